// A Prometheus of its own that only answers basic-auth callers: the scaler's basic auth against the real server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import { testDeps } from '../../scalers/testing.js';
import { freePort } from '../../src/sandbox/net.js';
import { waitUntil } from '../../src/sandbox/wait.js';

const username = 'swell';
const password = 'swell-prom-secret';
// bcrypt of `password` (cost 10), as Prometheus' web configuration wants it.
const passwordHash = '$2b$10$d6/vXT//gVi/K6HVqFb0K.pWVftrgn1LUsNjAeFo1P.buEcFw0J12';

let dir: string;
let server: ChildProcess;
let serverAddress: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swell-prom-auth-'));
  const port = await freePort();
  serverAddress = `http://127.0.0.1:${port}`;
  await writeFile(join(dir, 'web.yml'), `basic_auth_users:\n  ${username}: '${passwordHash}'\n`);
  await writeFile(join(dir, 'prometheus.yml'), 'global: {scrape_interval: 1s, evaluation_interval: 1s}\n');
  server = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--web.config.file=${join(dir, 'web.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  await waitUntil(async () => (await fetch(`${serverAddress}/-/ready`, { headers: { authorization } })).ok, {
    component: 'prometheus (basic auth)',
    what: '/-/ready',
    timeoutMs: 30_000,
  });
});

afterAll(async () => {
  server?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

async function read(authParams: Record<string, string>) {
  const scaler = createScaler(
    {
      triggerIndex: 0,
      trigger: { type: 'prometheus', metadata: { serverAddress, query: 'vector(7)', threshold: '5', authModes: 'basic' } },
      authParams,
      resolvedEnv: {},
      namespace: 'default',
    },
    testDeps(),
  );
  try {
    return await scaler.read('s0-prometheus');
  } finally {
    await scaler.close();
  }
}

describe('prometheus scaler with basic auth on a real server', () => {
  it('reads the query with the right credentials', async () => {
    await expect(read({ username, password })).resolves.toEqual({ value: 7, active: true });
  });

  it('is refused with a wrong password, and the error does not carry it', async () => {
    const failure = read({ username, password: 'not-the-password' });
    await expect(failure).rejects.toThrow(/401/);
    await expect(failure).rejects.not.toThrow(/not-the-password/);
  });
});
