// @sandbox kube
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../src/apis/keda/v1alpha1/scaledobject.js';
import { isNotFound } from '../../src/kube/errors.js';
import { Operator } from '../../src/operator/operator.js';
import { MetricsSourceError } from '../../src/operator/scaledobject/metrics-source.js';
import type { KubeClient } from '../../src/kube/client.js';
import { freePort } from '../../src/sandbox/net.js';
import {
  createDeployment,
  createNamespace,
  deleteNamespace,
  deleteScaledObjects,
  hpaPath,
  inProcessControllerOptions,
  installCrds,
  pollRounds,
  replicasOf,
  sandboxClient,
  soPath,
  waitFor,
} from './operator-support.js';

/*
 * A user's stories with the operator running in this process against the sandbox's real control plane
 * (kube-apiserver, controller-manager with the HPA controller, scheduler, fake kubelets). The operator watches
 * only this file's namespace. Polling is fast (1 s) and cooldowns short so every story ends within a minute.
 */

const namespace = `op-so-${randomUUID().slice(0, 6)}`;
let client: KubeClient;
let operator: Operator;
let registry: Registry;

beforeAll(async () => {
  const sandbox = sandboxClient();
  client = sandbox.client;
  await installCrds(client);
  await createNamespace(client, namespace);
  const options = inProcessControllerOptions(sandbox, namespace, 'operator-test');
  registry = options.registry;
  operator = new Operator(options);
  void operator.start();
  await waitFor('operator ready', 30_000, () => Promise.resolve(operator.ready().ok && operator.isLeader ? true : undefined));
});

afterAll(async () => {
  // Delete ScaledObjects while the operator runs, so their finalizers are honoured and the namespace can go.
  await deleteScaledObjects(client, namespace);
  await operator?.stop();
  await deleteNamespace(client, namespace);
});

/** KEDA's documented cron trigger shape, with a window that is open now (or opens far from now). */
function cronTrigger(open: boolean, desiredReplicas = '3'): { type: string; metadata: Record<string, string> } {
  const minute = new Date().getUTCMinutes();
  const at = (offset: number) => `${(minute + offset + 60) % 60} * * * *`;
  return { type: 'cron', metadata: { timezone: 'Etc/UTC', start: open ? at(-1) : at(20), end: open ? at(3) : at(30), desiredReplicas } };
}

async function createScaledObject(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
  await client.request('POST', soPath(namespace), {
    body: { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, spec },
  });
}

async function patchScaledObject(name: string, patch: Record<string, unknown>): Promise<void> {
  await client.request('PATCH', soPath(namespace, name), { body: patch, contentType: 'application/merge-patch+json' });
}

const getSo = (name: string) => client.request<ScaledObject>('GET', soPath(namespace, name));
const getHpa = (name: string) => client.request<V2HorizontalPodAutoscaler>('GET', hpaPath(namespace, name));
const condition = (so: ScaledObject, type: string) => so.status?.conditions?.find((c) => c.type === type);

async function conditionIs(name: string, type: string, status: string, reason?: string, timeoutMs = 20_000): Promise<ScaledObject> {
  return waitFor(`${name} ${type}=${status}${reason ? ` (${reason})` : ''}`, timeoutMs, async () => {
    const so = await getSo(name);
    const c = condition(so, type);
    return c?.status === status && (reason === undefined || c.reason === reason) ? so : undefined;
  });
}

const replicasBecome = (deployment: string, replicas: number, timeoutMs = 20_000) =>
  waitFor(`${deployment} at ${replicas} replicas`, timeoutMs, async () => ((await replicasOf(client, namespace, deployment)) === replicas ? true : undefined));

const hpaGone = (name: string) =>
  waitFor(`HPA ${name} deleted`, 20_000, async () => {
    try {
      await getHpa(name);
      return undefined;
    } catch (err) {
      return isNotFound(err) ? true : undefined;
    }
  });

async function eventReasons(name: string): Promise<string[]> {
  const events = await client.request<{ items: { involvedObject: { name: string; kind: string }; reason: string }[] }>(
    'GET',
    `/api/v1/namespaces/${namespace}/events`,
  );
  return events.items.filter((e) => e.involvedObject.kind === 'ScaledObject' && e.involvedObject.name === name).map((e) => e.reason);
}

/*
 * The cron window story waits for a minute boundary and then for the window to close, about a minute in all,
 * while the other stories need the operator only for seconds each: it runs beside them. Every story has its own
 * Deployment and ScaledObject; the other stories keep to their order among themselves.
 */
describe.concurrent("the operator's stories", () => {
  describe('a cron window', () => {
    it('wakes the Deployment when the window opens and lets it sleep after the cooldown once it closes', { timeout: 120_000 }, async ({ expect }) => {
      await createDeployment(client, namespace, 'night', 0);
      // A window open from now until the next minute boundary; if that is too close, wait for the next minute.
      if (new Date().getUTCSeconds() > 40) await new Promise((r) => setTimeout(r, (61 - new Date().getUTCSeconds()) * 1000));
      const minute = new Date().getUTCMinutes();
      const trigger = {
        type: 'cron',
        metadata: { timezone: 'Etc/UTC', start: `${minute} * * * *`, end: `${(minute + 1) % 60} * * * *`, desiredReplicas: '2' },
      };
      await createScaledObject('night', { scaleTargetRef: { name: 'night' }, pollingInterval: 1, cooldownPeriod: 3, triggers: [trigger] });
      await replicasBecome('night', 1);
      const active = await conditionIs('night', 'Active', 'True', 'ScalerActive');
      expect(active.status?.lastActiveTime).toBeDefined();
      await replicasBecome('night', 0, 75_000);
      const asleep = await getSo('night');
      const lastActive = Date.parse(asleep.status?.lastActiveTime ?? '');
      const windowEnd = new Date();
      windowEnd.setUTCMinutes(minute + 1, 0, 0);
      expect(lastActive).toBeLessThanOrEqual(windowEnd.getTime());
      expect(await eventReasons('night')).toEqual(expect.arrayContaining(['KEDAScaleTargetActivated', 'KEDAScaleTargetDeactivated']));
    });
  });

  describe('the other stories, in order', () => {
    describe.sequential('a cron ScaledObject on a Deployment', () => {
      it('becomes Ready and owns an HPA with exactly KEDA shape', async () => {
        await createDeployment(client, namespace, 'shop', 0);
        await createScaledObject('shop', {
          scaleTargetRef: { name: 'shop' },
          pollingInterval: 1,
          cooldownPeriod: 3,
          maxReplicaCount: 5,
          triggers: [cronTrigger(false)],
        });
        const so = await conditionIs('shop', 'Ready', 'True', 'ScaledObjectReady');
        expect(so.metadata.finalizers).toContain('finalizer.keda.sh');
        expect(so.metadata.labels?.['scaledobject.keda.sh/name']).toBe('shop');
        const metricName = so.status?.externalMetricNames?.[0] ?? '';
        expect(metricName).toMatch(/^s0-cron-Etc-UTC-/);
        expect(so.status).toMatchObject({ scaleTargetKind: 'apps/v1.Deployment', hpaName: 'keda-hpa-shop', originalReplicaCount: 0, triggersTypes: 'cron' });
        const hpa = await getHpa('keda-hpa-shop');
        expect(hpa.metadata?.labels).toMatchObject({
          'app.kubernetes.io/name': 'keda-hpa-shop',
          'app.kubernetes.io/part-of': 'shop',
          'app.kubernetes.io/managed-by': 'keda-operator',
          'scaledobject.keda.sh/name': 'shop',
        });
        expect(hpa.metadata?.ownerReferences).toEqual([
          expect.objectContaining({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: 'shop', controller: true, blockOwnerDeletion: true }),
        ]);
        expect(hpa.spec).toMatchObject({
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop' },
          minReplicas: 1,
          maxReplicas: 5,
          metrics: [
            {
              type: 'External',
              external: {
                metric: { name: metricName, selector: { matchLabels: { 'scaledobject.keda.sh/name': 'shop' } } },
                target: { type: 'AverageValue', averageValue: '1' },
              },
            },
          ],
        });
        expect(hpa.spec?.behavior?.scaleUp?.selectPolicy).not.toBe('Disabled');
      });

      it('keeps minReplicaCount while inactive and wakes to it', async () => {
        await createDeployment(client, namespace, 'floor', 1);
        await createScaledObject('floor', {
          scaleTargetRef: { name: 'floor' },
          pollingInterval: 1,
          cooldownPeriod: 2,
          minReplicaCount: 2,
          triggers: [cronTrigger(false)],
        });
        await replicasBecome('floor', 2);
        expect((await getHpa('keda-hpa-floor')).spec?.minReplicas).toBe(2);
      });

      it('rests at idleReplicaCount after the cooldown and wakes straight to minReplicaCount', async () => {
        await createDeployment(client, namespace, 'idle', 3);
        await createScaledObject('idle', {
          scaleTargetRef: { name: 'idle' },
          pollingInterval: 1,
          cooldownPeriod: 2,
          idleReplicaCount: 0,
          minReplicaCount: 2,
          triggers: [cronTrigger(false)],
        });
        await replicasBecome('idle', 0);
        await patchScaledObject('idle', { spec: { triggers: [cronTrigger(true)] } });
        await replicasBecome('idle', 2);
      });
    });

    describe.sequential('pausing a ScaledObject', () => {
      it('paused-replicas removes the HPA, holds the count, and resuming brings the HPA back', async () => {
        await createDeployment(client, namespace, 'hold', 1);
        await createScaledObject('hold', { scaleTargetRef: { name: 'hold' }, pollingInterval: 1, cooldownPeriod: 2, triggers: [cronTrigger(true)] });
        await conditionIs('hold', 'Ready', 'True');
        await getHpa('keda-hpa-hold');
        await patchScaledObject('hold', { metadata: { annotations: { 'autoscaling.keda.sh/paused-replicas': '4' } } });
        const paused = await conditionIs('hold', 'Paused', 'True', 'ScaledObjectPaused');
        await hpaGone('keda-hpa-hold');
        await replicasBecome('hold', 4);
        expect((await getSo('hold')).status?.pausedReplicaCount ?? paused.status?.pausedReplicaCount).toBe(4);
        await patchScaledObject('hold', { metadata: { annotations: { 'autoscaling.keda.sh/paused-replicas': null } } });
        await conditionIs('hold', 'Paused', 'False', 'ScaledObjectUnpaused');
        await waitFor('HPA recreated', 20_000, () => getHpa('keda-hpa-hold'));
        expect(await eventReasons('hold')).toEqual(expect.arrayContaining(['ScaledObjectPaused', 'ScaledObjectUnpaused']));
      });

      it('paused freezes the replicas where they are even when the trigger says otherwise', async () => {
        await createDeployment(client, namespace, 'freeze', 3);
        await createScaledObject(
          'freeze',
          { scaleTargetRef: { name: 'freeze' }, pollingInterval: 1, cooldownPeriod: 0, triggers: [cronTrigger(false)] },
          { 'autoscaling.keda.sh/paused': 'true' },
        );
        await conditionIs('freeze', 'Paused', 'True');
        // A twin without the annotation, created after it, is taken to zero by the same trigger: by then the
        // paused one had every chance to move too.
        await createDeployment(client, namespace, 'freeze-twin', 3);
        await createScaledObject('freeze-twin', {
          scaleTargetRef: { name: 'freeze-twin' },
          pollingInterval: 1,
          cooldownPeriod: 0,
          triggers: [cronTrigger(false)],
        });
        await replicasBecome('freeze-twin', 0);
        expect(await replicasOf(client, namespace, 'freeze')).toBe(3);
        // KEDA: only an explicit false unpauses; then the inactive trigger takes the target to zero.
        await patchScaledObject('freeze', { metadata: { annotations: { 'autoscaling.keda.sh/paused': 'false' } } });
        await replicasBecome('freeze', 0);
      });

      it('paused-scale-in disables HPA scale-down and blocks the drop to zero; paused-scale-out disables scale-up', async () => {
        await createDeployment(client, namespace, 'ratchet', 2);
        await createScaledObject(
          'ratchet',
          { scaleTargetRef: { name: 'ratchet' }, pollingInterval: 1, cooldownPeriod: 0, triggers: [cronTrigger(false)] },
          { 'autoscaling.keda.sh/paused-scale-in': 'true' },
        );
        const hpa = await waitFor('HPA with scale-down disabled', 20_000, async () =>
          (await getHpa('keda-hpa-ratchet')).spec?.behavior?.scaleDown?.selectPolicy === 'Disabled' ? true : undefined,
        );
        expect(hpa).toBe(true);
        await conditionIs('ratchet', 'Paused', 'True');
        // Two polling rounds of every ScaledObject later the inactive trigger still has not taken it down.
        await pollRounds(() => registry.metrics(), 2);
        expect(await replicasOf(client, namespace, 'ratchet')).toBe(2);
        await patchScaledObject('ratchet', {
          metadata: { annotations: { 'autoscaling.keda.sh/paused-scale-in': null, 'autoscaling.keda.sh/paused-scale-out': 'true' } },
        });
        await waitFor('HPA with scale-up disabled', 20_000, async () => {
          const behavior = (await getHpa('keda-hpa-ratchet')).spec?.behavior;
          return behavior?.scaleUp?.selectPolicy === 'Disabled' && behavior.scaleDown?.selectPolicy !== 'Disabled' ? true : undefined;
        });
        await replicasBecome('ratchet', 0);
      });
    });

    describe.sequential('a trigger whose source is down', () => {
      it('falls back: failures counted in status.health, Fallback=True past the threshold, fallback value served', { timeout: 60_000 }, async () => {
        const closedPort = await freePort();
        await createDeployment(client, namespace, 'fragile', 0);
        await createScaledObject('fragile', {
          scaleTargetRef: { name: 'fragile' },
          pollingInterval: 1,
          cooldownPeriod: 2,
          fallback: { failureThreshold: 2, replicas: 3 },
          triggers: [
            { type: 'prometheus', metadata: { serverAddress: `http://127.0.0.1:${closedPort}`, query: 'sum(rate(http_requests_total[1m]))', threshold: '10' } },
          ],
        });
        const so = await conditionIs('fragile', 'Fallback', 'True', 'FallbackExists', 30_000);
        expect(so.status?.health?.['s0-prometheus']).toMatchObject({ status: 'Failing' });
        expect(so.status?.health?.['s0-prometheus']?.numberOfFailures).toBeGreaterThan(2);
        // Events are recorded asynchronously, after the status patch the wait above saw.
        const reasons = await waitFor('fallback events', 10_000, async () => {
          const seen = await eventReasons('fragile');
          return seen.includes('KEDAScalerFailed') && seen.includes('ScaledObjectFallbackActivated') ? seen : undefined;
        }).catch(() => eventReasons('fragile'));
        expect(reasons).toEqual(expect.arrayContaining(['KEDAScalerFailed', 'ScaledObjectFallbackActivated']));
        // Fallback counts as activity, so the target is woken for the HPA to take it to fallback.replicas.
        await replicasBecome('fragile', 1);
        const served = await operator.metricsSource.getMetric(namespace, 'fragile', 's0-prometheus');
        expect(served.value).toBe(30);
        await expect(operator.metricsSource.getMetric(namespace, 'fragile', 's0-nope')).rejects.toBeInstanceOf(MetricsSourceError);
        const metrics = await registry.getSingleMetricAsString('keda_scaler_detail_errors_total');
        expect(metrics).toMatch(new RegExp(`keda_scaler_detail_errors_total\\{[^}]*scaledObject="fragile"[^}]*\\} [1-9]`));
      });

      it('without fallback stays put and reports TriggerError', async () => {
        const closedPort = await freePort();
        await createDeployment(client, namespace, 'stubborn', 2);
        await createScaledObject('stubborn', {
          scaleTargetRef: { name: 'stubborn' },
          pollingInterval: 1,
          cooldownPeriod: 0,
          triggers: [{ type: 'prometheus', metadata: { serverAddress: `http://127.0.0.1:${closedPort}`, query: 'up', threshold: '1' } }],
        });
        await conditionIs('stubborn', 'Ready', 'False', 'TriggerError');
        expect(await replicasOf(client, namespace, 'stubborn')).toBe(2);
      });
    });

    describe.sequential('deleting a ScaledObject', () => {
      it('with restoreToOriginalReplicaCount puts the original count back and lets the object go', async () => {
        await createDeployment(client, namespace, 'restore', 2);
        await createScaledObject('restore', {
          scaleTargetRef: { name: 'restore' },
          pollingInterval: 1,
          cooldownPeriod: 0,
          advanced: { restoreToOriginalReplicaCount: true },
          triggers: [cronTrigger(false)],
        });
        await replicasBecome('restore', 0);
        expect((await getSo('restore')).status?.originalReplicaCount).toBe(2);
        await client.request('DELETE', soPath(namespace, 'restore'));
        await waitFor('ScaledObject gone', 20_000, async () => {
          try {
            await getSo('restore');
            return undefined;
          } catch (err) {
            return isNotFound(err) ? true : undefined;
          }
        });
        expect(await replicasOf(client, namespace, 'restore')).toBe(2);
      });
    });

    describe.sequential('invalid ScaledObjects', () => {
      it('min above max is refused by the CRD schema', async () => {
        const attempt = createScaledObject('upside-down', {
          scaleTargetRef: { name: 'x' },
          minReplicaCount: 5,
          maxReplicaCount: 2,
          triggers: [cronTrigger(false)],
        });
        await expect(attempt).rejects.toMatchObject({ code: 422 });
        await expect(attempt).rejects.toThrow(/minReplicaCount must be less than or equal to maxReplicaCount/);
      });

      it('duplicate trigger names are reported as Ready=False naming the field, without an HPA', async () => {
        await createDeployment(client, namespace, 'twins', 1);
        const trigger = { ...cronTrigger(false), name: 'same' };
        await createScaledObject('twins', { scaleTargetRef: { name: 'twins' }, triggers: [trigger, trigger] });
        const so = await conditionIs('twins', 'Ready', 'False', 'ScaledObjectCheckFailed');
        expect(condition(so, 'Ready')?.message).toContain('spec.triggers[1].name');
        expect(condition(so, 'Ready')?.message).toContain('"same"');
        await expect(getHpa('keda-hpa-twins')).rejects.toMatchObject({ code: 404 });
        expect(await eventReasons('twins')).toContain('ScaledObjectCheckFailed');
      });

      it('a second ScaledObject for the same Deployment is refused, naming the first', async () => {
        await createDeployment(client, namespace, 'contested', 1);
        await createScaledObject('contested-a', { scaleTargetRef: { name: 'contested' }, triggers: [cronTrigger(false)] });
        await conditionIs('contested-a', 'Ready', 'True');
        await createScaledObject('contested-b', { scaleTargetRef: { name: 'contested' }, triggers: [cronTrigger(false)] });
        const so = await conditionIs('contested-b', 'Ready', 'False', 'ScaledObjectCheckFailed');
        expect(condition(so, 'Ready')?.message).toContain("already managed by the ScaledObject 'contested-a'");
      });

      it('a missing target is reported, and fixed once the Deployment appears', async () => {
        await createScaledObject('early', { scaleTargetRef: { name: 'later' }, pollingInterval: 1, triggers: [cronTrigger(false)] });
        const so = await conditionIs('early', 'Ready', 'False', 'ScaledObjectCheckFailed');
        expect(condition(so, 'Ready')?.message).toContain("Target resource doesn't exist");
        await createDeployment(client, namespace, 'later', 1);
        await conditionIs('early', 'Ready', 'True', undefined, 40_000);
      });
    });

    describe.sequential('trigger authentication', () => {
      it('a changed Secret takes effect without a restart', { timeout: 60_000 }, async () => {
        // A stand-in Prometheus that remembers which bearer token each query carried.
        const tokens: string[] = [];
        const server = http.createServer((req, res) => {
          tokens.push(req.headers.authorization ?? '');
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, '7'] }] } }));
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
          const port = (server.address() as AddressInfo).port;
          await client.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
            body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'prom-token' }, stringData: { token: 'first-token' } },
          });
          await client.request('POST', `/apis/keda.sh/v1alpha1/namespaces/${namespace}/triggerauthentications`, {
            body: {
              apiVersion: 'keda.sh/v1alpha1',
              kind: 'TriggerAuthentication',
              metadata: { name: 'prom-auth' },
              spec: { secretTargetRef: [{ parameter: 'bearerToken', name: 'prom-token', key: 'token' }] },
            },
          });
          await createDeployment(client, namespace, 'secured', 1);
          await createScaledObject('secured', {
            scaleTargetRef: { name: 'secured' },
            pollingInterval: 1,
            triggers: [
              {
                type: 'prometheus',
                metadata: { serverAddress: `http://127.0.0.1:${port}`, query: 'up', threshold: '5', authModes: 'bearer' },
                authenticationRef: { name: 'prom-auth' },
              },
            ],
          });
          await waitFor('a query with the first token', 20_000, () => Promise.resolve(tokens.includes('Bearer first-token') ? true : undefined));
          const so = await conditionIs('secured', 'Active', 'True');
          expect(so.status?.authenticationsTypes).toBe('prom-auth');
          await client.request('PATCH', `/api/v1/namespaces/${namespace}/secrets/prom-token`, {
            body: { stringData: { token: 'second-token' } },
            contentType: 'application/merge-patch+json',
          });
          await waitFor('a query with the rotated token', 20_000, () => Promise.resolve(tokens.includes('Bearer second-token') ? true : undefined));
          const rotatedAt = tokens.indexOf('Bearer second-token');
          // Two more queries after the first with the new token: the old one must not come back.
          await waitFor('two more queries', 20_000, () => Promise.resolve(tokens.length > rotatedAt + 2 ? true : undefined));
          expect(tokens.slice(rotatedAt)).not.toContain('Bearer first-token');
          // The secret never leaks into what users can read.
          expect(JSON.stringify(await getSo('secured'))).not.toContain('second-token');
          expect(JSON.stringify(await client.request('GET', `/api/v1/namespaces/${namespace}/events`))).not.toContain('token');
          expect(await registry.metrics()).not.toContain('second-token');
        } finally {
          server.closeAllConnections();
          server.close();
        }
      });
    });
  });
});
