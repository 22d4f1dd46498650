import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import { NodeController } from './node-controller.js';
import type { NodeIdentity } from './node-object.js';
import type { Provider } from './provider.js';

const identity: NodeIdentity = {
  name: 'swell-vk',
  providerName: 'simulated',
  regular: false,
  capacity: { cpu: '1k', memory: '4Ti', pods: '5k' },
  nodeIP: '127.0.0.1',
  kubeletPort: 10250,
  machineId: 'm',
  bootId: 'b',
  architecture: 'amd64',
};
const nodePath = '/api/v1/nodes/swell-vk';

/** A provider whose health check answers at once, or never, as the test says. */
function provider() {
  const state = { hangs: false };
  const healthCheck = (): Promise<void> => (state.hangs ? new Promise<void>(() => undefined) : Promise.resolve());
  // The node controller only asks the provider for its health.
  return { state, provider: { name: 'simulated', healthCheck } as unknown as Provider };
}

function readyCondition(client: FakeKubeClient): { status?: string; message?: string } | undefined {
  const node = client.get(nodePath) as { status?: { conditions?: { type: string; status: string; message: string }[] } } | undefined;
  return node?.status?.conditions?.find((c) => c.type === 'Ready');
}

describe('NodeController', () => {
  it('gives up on a health check that does not answer exactly at its timeout on the clock, and registers the node not Ready', async () => {
    const clock = new FakeClock();
    const client = new FakeKubeClient();
    const { state, provider: hanging } = provider();
    state.hangs = true;
    const controller = new NodeController({ client, identity, provider: hanging, clock, log: pino({ level: 'silent' }) });
    let registered = false;
    const registering = controller.register().then(() => (registered = true));
    await clock.advance(4_999);
    expect(registered).toBe(false);
    expect(client.get(nodePath)).toBeUndefined();
    await clock.advance(1);
    await registering;
    expect(readyCondition(client)).toMatchObject({ status: 'False', message: 'provider health check failed: no answer within 5000 ms' });
    expect(controller.currentHealth).toEqual({ healthy: false, message: 'no answer within 5000 ms' });
  });

  it('turns Ready to False once a periodic health check times out, and back once the provider answers', async () => {
    const clock = new FakeClock();
    const client = new FakeKubeClient();
    const { state, provider: flaky } = provider();
    const controller = new NodeController({ client, identity, provider: flaky, clock, log: pino({ level: 'silent' }), healthCheckMs: 10_000, leaseRenewMs: 60_000, statusRefreshMs: 600_000 });
    await controller.register();
    expect(readyCondition(client)?.status).toBe('True');
    controller.start();
    state.hangs = true;
    await clock.advance(10_000 + 4_999);
    expect(readyCondition(client)?.status).toBe('True');
    await clock.advance(1);
    expect(readyCondition(client)).toMatchObject({ status: 'False', message: 'provider health check failed: no answer within 5000 ms' });
    state.hangs = false;
    await clock.advance(10_000);
    expect(readyCondition(client)?.status).toBe('True');
    controller.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});
