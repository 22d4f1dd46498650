// A queue worker for swell's demo and in-cluster tests: pops one item at a time from a Redis list and spends
// WORK_MS on it, so how fast a Deployment of these drains the list depends on how many replicas swell gives it.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

function settings(env) {
  const address = env.REDIS_ADDRESS ?? 'redis:6379';
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon) : address;
  const port = colon > 0 ? Number(address.slice(colon + 1)) : 6379;
  const workMs = Number(env.WORK_MS ?? '1000');
  const list = env.LIST_NAME ?? 'jobs';
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`REDIS_ADDRESS "${address}" is not host:port`);
  if (!Number.isFinite(workMs) || workMs < 0) throw new Error(`WORK_MS "${env.WORK_MS}" is not a number of milliseconds >= 0`);
  if (!list) throw new Error('LIST_NAME is empty');
  return { host, port, list, workMs, password: env.REDIS_PASSWORD || undefined };
}

function log(fields) {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
}

let config;
try {
  config = settings(process.env);
} catch (error) {
  log({ level: 'error', msg: error.message });
  process.exit(2);
}

const redis = new Redis({ host: config.host, port: config.port, password: config.password, maxRetriesPerRequest: null });
// ioredis reconnects by itself; the message says why it is not popping meanwhile (never the password).
redis.on('error', (error) => log({ level: 'warn', msg: 'redis unavailable', error: error.message }));

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => (stopping = true));

log({ level: 'info', msg: 'consuming', list: config.list, redis: `${config.host}:${config.port}`, workMs: config.workMs });
let processed = 0;
while (!stopping) {
  // A short block so a stop request is honoured within a second even when the list stays empty.
  const popped = await redis.brpop(config.list, 1);
  if (!popped) continue;
  await sleep(config.workMs);
  processed += 1;
  log({ level: 'info', msg: 'processed', list: config.list, item: popped[1], processed });
}
log({ level: 'info', msg: 'stopped', processed });
await redis.quit();
