// @sandbox kube
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../src/apis/keda/v1alpha1/scaledobject.js';
import type { KubeClient } from '../../src/kube/client.js';
import {
  createDeployment,
  createNamespace,
  deleteNamespace,
  deleteScaledObjects,
  installCrds,
  metricSum,
  sandboxClient,
  soPath,
  startInProcessSwell,
  waitFor,
  type InProcessSwell,
} from './operator-support.js';

/*
 * Whatever fails at run time is told on the object: an HPA the apiserver refuses, a source that cannot be
 * reached. And a source address that came from a Secret (through a TriggerAuthentication) appears in none of
 * what the operator writes: its log, the ScaledObject's status, its Events.
 */

const namespace = `op-faults-${randomUUID().slice(0, 6)}`;
let client: KubeClient;
let swell: InProcessSwell;
const logLines: string[] = [];
let closedPort: number;

/** A loopback port nothing listens on: bound, then closed. */
async function closedLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  const sandbox = sandboxClient();
  client = sandbox.client;
  await installCrds(client);
  await createNamespace(client, namespace);
  closedPort = await closedLoopbackPort();
  // Every log line the operator writes, at debug level, to look for the hidden address in.
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (logLines.push(chunk.toString('utf8')), done()) });
  swell = await startInProcessSwell(sandbox, namespace, { log: pino({ level: 'debug' }, sink) });
});

afterAll(async () => {
  await deleteScaledObjects(client, namespace);
  await swell?.stop();
  await deleteNamespace(client, namespace);
});

const getSo = (name: string) => client.request<ScaledObject>('GET', soPath(namespace, name));
const ready = (so: ScaledObject) => so.status?.conditions?.find((c) => c.type === 'Ready');

interface CoreEvent {
  reason: string;
  message: string;
  type: string;
  count?: number;
  involvedObject: { name: string };
}

async function eventsOf(name: string): Promise<CoreEvent[]> {
  const list = await client.request<{ items: CoreEvent[] }>('GET', `/api/v1/namespaces/${namespace}/events`);
  return list.items.filter((e) => e.involvedObject.name === name);
}

async function createScaledObject(name: string, spec: Record<string, unknown>): Promise<void> {
  await client.request('POST', soPath(namespace), { body: { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name, namespace }, spec } });
}

describe('faults the operator meets at run time', () => {
  it('an HPA the apiserver would refuse is told on the object with the field, once, instead of retried in the log forever', async () => {
    await createDeployment(client, namespace, 'queue-worker', 1);
    await createScaledObject('zero-target', {
      scaleTargetRef: { name: 'queue-worker' },
      pollingInterval: 1,
      triggers: [{ type: 'redis', metadata: { address: `127.0.0.1:${closedPort}`, listName: 'jobs', listLength: '0' } }],
    });
    const so = await waitFor('Ready=False on zero-target', 30_000, async () => {
      const current = await getSo('zero-target');
      return ready(current)?.status === 'False' ? current : undefined;
    });
    expect(ready(so)?.reason).toBe('ScaledObjectCheckFailed');
    // Whichever refuses it first (the operator's validation or the apiserver), the message names the field.
    expect(ready(so)?.message).toMatch(/listLength|averageValue/);
    const warnings = await waitFor('a Warning event', 10_000, async () => {
      const events = (await eventsOf('zero-target')).filter((e) => e.type === 'Warning' && e.reason === 'ScaledObjectCheckFailed');
      return events.length > 0 ? events : undefined;
    });
    expect(warnings[0]?.message).toBe(ready(so)?.message);
    // The same failure is not retold when the object is reconciled again: touch it, twice, each time waiting
    // until the operator has reconciled once more.
    const reconciles = async () => metricSum(await swell.metrics(), 'controller_runtime_reconcile_total', { controller: 'scaledobject' });
    for (const touch of ['1', '2']) {
      const before = await reconciles();
      await client.request('PATCH', soPath(namespace, 'zero-target'), {
        body: { metadata: { annotations: { 'test.swell.dev/touch': touch } } },
        contentType: 'application/merge-patch+json',
      });
      await waitFor(`a reconcile after touch ${touch}`, 20_000, async () => ((await reconciles()) > before ? true : undefined));
    }
    const again = (await eventsOf('zero-target')).filter((e) => e.reason === 'ScaledObjectCheckFailed');
    expect(again.reduce((sum, e) => sum + (e.count ?? 1), 0)).toBe(1);
  });

  it('a source that refuses connections is told in plain words naming the trigger, and its Secret-held address is written nowhere', async () => {
    const hiddenAddress = `127.0.0.1:${closedPort}`;
    await client.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'redis-conn' }, stringData: { address: hiddenAddress } },
    });
    await client.request('POST', `/apis/keda.sh/v1alpha1/namespaces/${namespace}/triggerauthentications`, {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'TriggerAuthentication',
        metadata: { name: 'redis-auth' },
        spec: { secretTargetRef: [{ parameter: 'address', name: 'redis-conn', key: 'address' }] },
      },
    });
    await createDeployment(client, namespace, 'mailer', 1);
    await createScaledObject('mailer', {
      scaleTargetRef: { name: 'mailer' },
      pollingInterval: 1,
      triggers: [{ type: 'redis', name: 'outbox', metadata: { listName: 'outbox', listLength: '5' }, authenticationRef: { name: 'redis-auth' } }],
    });
    const so = await waitFor('a trigger error on mailer', 30_000, async () => {
      const current = await getSo('mailer');
      return ready(current)?.reason === 'TriggerError' ? current : undefined;
    });
    expect(ready(so)?.message).toContain('spec.triggers[0] (redis "outbox"): connection refused to Redis standalone (address from the TriggerAuthentication)');
    const events = await waitFor('a KEDAScalerFailed event', 10_000, async () => {
      const found = (await eventsOf('mailer')).filter((e) => e.reason === 'KEDAScalerFailed');
      return found.length > 0 ? found : undefined;
    });
    expect(events[0]?.message).toContain('connection refused to Redis standalone (address from the TriggerAuthentication)');
    const written = [JSON.stringify(await getSo('mailer')), JSON.stringify(await eventsOf('mailer')), ...logLines].join('\n');
    expect(logLines.some((l) => l.includes('mailer'))).toBe(true);
    expect(written).not.toContain(hiddenAddress);
    expect(written).not.toContain(String(closedPort));
    expect(written).not.toMatch(/max retries per request/i);
  });
});
