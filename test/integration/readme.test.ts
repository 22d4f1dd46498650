// @sandbox kube,redis,kafka,sqs,prometheus,postgresql,mysql,rabbitmq,nats,azurite,artemis
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../../src/demo/processes.js';
import { isNotFound } from '../../src/kube/errors.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { defaultCacheDir } from '../../src/sandbox/paths.js';
import { ensureHelm } from '../../src/sandbox/helm.js';
import { startOperator, type RunningProcess } from '../e2e/support.js';
import { codeSpans, coverageOf, exampleOf, fencedBlocks, helmTemplateArgsOf, readmeCommands, readReadme, repoDir, section } from '../unit/readme-blocks.js';
import { createNamespace, deleteNamespace, sandboxClient, waitFor } from './operator-support.js';
import { brokerSubstitutions, prepareBrokerSources } from './readme-brokers.js';

/*
 * The README's examples are applied to the sandbox as a user would apply them, with `swell operator` running as a
 * local process, and every ScaledObject, ScaledJob and BurstPolicy must reach Ready=True (a ScaledObject or
 * ScaledJob also after its first poll of the real server). The cheap commands the README shows are run, and the
 * operator's /metrics is compared with the README's tables.
 */

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { scaleTargetRef?: { name: string }; triggers?: { type: string }[] };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[]; hpaName?: string };
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the sandbox setup should have started its server`);
  return value;
};

/**
 * What the examples name as in-cluster addresses and placeholders, and what stands in for each on the sandbox.
 * Every entry must match at least once, so this table cannot drift from the README unnoticed.
 */
function substitutions(sqsQueueUrl: string, statsUrl = 'http://127.0.0.1:1'): { what: string; pattern: RegExp; replacement: string }[] {
  const redis = new URL(env('REDIS_URL'));
  const postgres = new URL(env('POSTGRES_URL'));
  const mariadb = new URL(env('MYSQL_URL'));
  return [
    { what: 'the PostgreSQL host', pattern: /postgresql\.databases\.svc/g, replacement: postgres.hostname },
    { what: 'the PostgreSQL port', pattern: /port: "5432"/g, replacement: `port: "${postgres.port}"` },
    { what: 'the PostgreSQL user', pattern: /userName: orders-reader/g, replacement: `userName: ${decodeURIComponent(postgres.username)}` },
    { what: 'the PostgreSQL password', pattern: /orders-reader-password/g, replacement: decodeURIComponent(postgres.password) },
    { what: 'the PostgreSQL database', pattern: /dbName: orders/g, replacement: `dbName: ${postgres.pathname.slice(1)}` },
    { what: 'the MySQL host', pattern: /mysql\.databases\.svc/g, replacement: mariadb.hostname },
    { what: 'the MySQL port', pattern: /port: "3306"/g, replacement: `port: "${mariadb.port}"` },
    { what: 'the MySQL user', pattern: /username: media-reader/g, replacement: `username: ${decodeURIComponent(mariadb.username)}` },
    { what: 'the MySQL password', pattern: /media-reader-password/g, replacement: decodeURIComponent(mariadb.password) },
    { what: 'the MySQL database', pattern: /dbName: media/g, replacement: `dbName: ${mariadb.pathname.slice(1)}` },
    { what: 'the metrics API', pattern: /http:\/\/report-api\.reports\.svc:8080/g, replacement: statsUrl },
    { what: 'the Redis address', pattern: /redis\.queues\.svc:6379/g, replacement: `${redis.hostname}:${redis.port}` },
    { what: 'the Kafka bootstrap servers (its SASL/PLAIN listener)', pattern: /kafka-bootstrap\.messaging\.svc:9092/g, replacement: env('KAFKA_SASL_BROKERS') },
    { what: 'the Kafka SASL user', pattern: /\bpayments-scaler\b(?!-)/g, replacement: env('KAFKA_SASL_USERNAME') },
    { what: 'the Kafka SASL password', pattern: /\bpayments-scaler-password\b/g, replacement: env('KAFKA_SASL_PASSWORD') },
    { what: 'the Prometheus server', pattern: /http:\/\/prometheus\.monitoring\.svc:9090/g, replacement: env('PROMETHEUS_URL') },
    { what: 'the SQS queue URL', pattern: /https:\/\/sqs\.eu-west-1\.amazonaws\.com\/123456789012\/orders/g, replacement: sqsQueueUrl },
    // ElasticMQ instead of AWS: the same region, plus the endpoint KEDA's awsEndpoint points the client at.
    { what: 'the SQS endpoint', pattern: /^(\s*)awsRegion: eu-west-1$/gm, replacement: `$1awsRegion: eu-west-1\n$1awsEndpoint: ${env('SQS_ENDPOINT')}` },
    ...brokerSubstitutions(env),
  ];
}

const plural: Record<string, { group: string; version: string; resource: string }> = {
  Secret: { group: '', version: 'v1', resource: 'secrets' },
  ConfigMap: { group: '', version: 'v1', resource: 'configmaps' },
  TriggerAuthentication: { group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications' },
  ScaledObject: { group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects' },
  ScaledJob: { group: 'keda.sh', version: 'v1alpha1', resource: 'scaledjobs' },
  BurstPolicy: { group: 'swell.dev', version: 'v1alpha1', resource: 'burstpolicies' },
};

function pathOf(kind: string, namespace: string, name?: string): string {
  const type = plural[kind];
  if (!type) throw new Error(`the readme test cannot apply kind ${kind}`);
  return resourcePath({ ...type, namespace, ...(name ? { name } : {}) });
}

/** A workload the examples scale, as a user's would be: requests on every resource the cpu/memory triggers read. */
async function ensureDeployment(client: KubeClient, namespace: string, name: string): Promise<void> {
  await client
    .request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: { containers: [{ name, image: 'registry.invalid/app:1', resources: { requests: { cpu: '250m', memory: '512Mi' } } }] },
          },
        },
      },
    })
    .catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
    });
}

function condition(object: KubeObject, type: string): { status: string; reason?: string; message?: string } | undefined {
  return object.status?.conditions?.find((c) => c.type === type);
}

function run(command: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repoDir, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: process.env }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** `npx swell <args>` as the checkout runs it: the CLI's TypeScript entry point through tsx. */
function swell(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const tsx = createRequire(join(repoDir, 'package.json')).resolve('tsx');
  return run(process.execPath, ['--import', tsx, join(repoDir, 'src', 'cli', 'main.ts'), ...args]);
}

const readme = readReadme();
const examples = fencedBlocks(readme)
  .filter((b) => b.lang === 'yaml')
  .map((b) => ({ file: exampleOf(b)?.file ?? `README.md line ${b.line}`, text: b.text }));

describe('README examples applied to the sandbox', () => {
  const namespace = `readme-${randomBytes(3).toString('hex')}`;
  let client: KubeClient;
  let operator: RunningProcess | undefined;
  let metricsPort = 0;
  let redis: Redis;
  let kafka: Kafka;
  let sqsQueueUrl = '';
  let statsServer: http.Server | undefined;
  let statsUrl = '';
  let removeBrokerSources: (() => Promise<void>) | undefined;
  const matched = new Set<string>();
  // The tables the database examples query, under the names the examples use.
  const postgresTable = 'CREATE TABLE IF NOT EXISTS jobs (id serial PRIMARY KEY, state text NOT NULL)';
  const mysqlTable = 'CREATE TABLE IF NOT EXISTS thumbnails (id INT AUTO_INCREMENT PRIMARY KEY, done TINYINT NOT NULL DEFAULT 0)';
  const onDatabases = async (postgresSql: string, mysqlSql: string): Promise<void> => {
    const postgres = new pg.Client({ connectionString: env('POSTGRES_URL') });
    await postgres.connect();
    await postgres.query(postgresSql).finally(() => postgres.end());
    const mariadb = await mysql.createConnection({ uri: env('MYSQL_URL') });
    await mariadb.query(mysqlSql).finally(() => mariadb.end());
  };

  beforeAll(async () => {
    ({ client } = sandboxClient());
    // The event sources the examples read: a queue, a topic, a stream with its group, and empty lists.
    const sqs = new SQSClient({ endpoint: env('SQS_ENDPOINT'), region: 'eu-west-1', credentials: { accessKeyId: 'readme', secretAccessKey: 'readme' } });
    sqsQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'orders' }))).QueueUrl ?? '';
    sqs.destroy();
    kafka = new Kafka({ clientId: 'swell-readme', brokers: env('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'payments', numPartitions: 6 }], waitForLeaders: true });
    await admin.disconnect();
    redis = new Redis(env('REDIS_URL'), { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    await redis.del('emails', 'transcode-jobs');
    await redis.xgroup('CREATE', 'events', 'processors', '$', 'MKSTREAM').catch((error: unknown) => {
      if (!String(error).includes('BUSYGROUP')) throw error;
    });
    await onDatabases(postgresTable, mysqlTable);
    // The service the metrics-api example asks for its backlog.
    statsServer = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ queues: [{ name: 'reports', waiting: 42 }] })),
    );
    await new Promise<void>((resolve) => statsServer?.listen(0, '127.0.0.1', resolve));
    statsUrl = `http://127.0.0.1:${(statsServer.address() as AddressInfo).port}`;
    removeBrokerSources = await prepareBrokerSources(env);
    await createNamespace(client, namespace);
    // The workloads the examples scale exist before them, as a user's would.
    for (const { text } of examples) {
      for (const doc of parseAllDocuments(text)) {
        const object = doc.toJS() as KubeObject;
        const target = object.spec?.scaleTargetRef?.name;
        if (target) await ensureDeployment(client, namespace, target);
      }
    }
    metricsPort = await freePort();
    operator = await startOperator(namespace, ['--metrics-port', String(metricsPort)]);
  }, 180_000);

  afterAll(async () => {
    // ScaledObjects and ScaledJobs go first, while swell runs to remove their finalizers.
    for (const kind of ['ScaledObject', 'ScaledJob']) {
      const list = await client.request<{ items: KubeObject[] }>('GET', pathOf(kind, namespace)).catch(() => ({ items: [] }));
      for (const item of list.items) {
        await client.request('DELETE', pathOf(kind, namespace, item.metadata.name)).catch(() => undefined);
        await waitFor(`${kind} ${item.metadata.name} deleted`, 30_000, () =>
          client.request('GET', pathOf(kind, namespace, item.metadata.name)).then(
            () => undefined,
            (e: unknown) => (isNotFound(e) ? true : undefined),
          ),
        ).catch(() => undefined);
      }
    }
    const code = await operator?.stop();
    await deleteNamespace(client, namespace);
    await removeBrokerSources?.();
    await redis?.del('emails', 'transcode-jobs', 'events');
    await onDatabases('DROP TABLE IF EXISTS jobs', 'DROP TABLE IF EXISTS thumbnails').catch(() => undefined);
    await new Promise<void>((resolve) => (statsServer ? statsServer.close(() => resolve()) : resolve()));
    redis?.disconnect();
    const admin = kafka?.admin();
    if (admin) {
      await admin.connect();
      await admin.deleteTopics({ topics: ['payments'] }).catch(() => undefined);
      await admin.disconnect();
    }
    expect(code).toBe(0);
  }, 120_000);

  it.each(examples)(
    '$file is applied and becomes Ready',
    async ({ text }) => {
      let substituted = text;
      for (const s of substitutions(sqsQueueUrl, statsUrl)) {
        if (s.pattern.test(substituted)) matched.add(s.what);
        s.pattern.lastIndex = 0;
        substituted = substituted.replace(s.pattern, s.replacement);
      }
      const objects = parseAllDocuments(substituted).map((d) => d.toJS() as KubeObject);
      for (const object of objects)
        await client.request('POST', pathOf(object.kind, namespace), { body: { ...object, metadata: { ...object.metadata, namespace } } });

      for (const object of objects.filter((o) => ['ScaledObject', 'ScaledJob', 'BurstPolicy'].includes(o.kind))) {
        const what = `${object.kind} ${object.metadata.name}`;
        const read = () => client.request<KubeObject>('GET', pathOf(object.kind, namespace, object.metadata.name));
        const ready = await waitFor(`${what} Ready=True`, 60_000, async () => {
          const current = await read();
          const state = condition(current, 'Ready');
          if (state?.status === 'False') return { failed: `${what} Ready=False: ${state.reason ?? ''} ${state.message ?? ''}` };
          return state?.status === 'True' ? { object: current } : undefined;
        });
        expect(ready.failed).toBeUndefined();
        if (object.kind === 'BurstPolicy') continue;
        // After a poll of the real server (Active decided), it is still Ready: the trigger could read its source.
        const polled = await waitFor(`${what} polled (Active True or False)`, 60_000, async () => {
          const current = await read();
          return ['True', 'False'].includes(condition(current, 'Active')?.status ?? '') ? current : undefined;
        });
        expect(condition(polled, 'Ready'), `${what} after its first poll`).toMatchObject({ status: 'True' });
        if (object.kind === 'ScaledObject') {
          expect(polled.status?.hpaName).toBe(`keda-hpa-${object.metadata.name}`);
          await client.request(
            'GET',
            resourcePath({ group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', namespace, name: polled.status?.hpaName ?? '' }),
          );
        }
      }
    },
    180_000,
  );

  it('used every substitution (the table matches the examples)', () => {
    expect([...matched].sort()).toEqual(
      substitutions(sqsQueueUrl)
        .map((s) => s.what)
        .sort(),
    );
  });

  it('serves on /metrics exactly the operator metric families the README lists, with their types', async () => {
    const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const served = new Map([...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
    const metrics = section(readme, 'Metrics and dashboards');
    const tables = metrics.slice(0, metrics.indexOf('`swell virtual-node` serves'));
    const documented = new Map(
      tables
        .split('\n')
        .map((row) => row.split('|').map((cell) => cell.trim()))
        .filter((cells) => /^`[a-z_]+`$/.test(cells[1] ?? ''))
        .map((cells) => [codeSpans(cells[1] ?? '')[0] ?? '', cells[2] ?? '']),
    );
    expect(documented.size).toBeGreaterThan(20);
    expect(
      [...documented]
        .filter(([name, type]) => served.get(name) !== type)
        .map(([name, type]) => `${name} (${type}): served as ${served.get(name) ?? 'nothing'}`),
    ).toEqual([]);
    const ours = [...served.keys()].filter((name) => /^(keda|swell|controller_runtime|workqueue)_/.test(name));
    expect(
      ours.filter((name) => !documented.has(name)),
      'served but not in the README',
    ).toEqual([]);
  });
});

describe('README commands that are cheap to run', () => {
  const commands = readmeCommands(readme);
  const swellRuns = commands.flatMap(({ command }) => {
    const coverage = coverageOf(command);
    return coverage?.kind === 'run' && coverage.program === 'swell' ? [{ command, argv: coverage.argv }] : [];
  });
  const helmRuns = commands.flatMap(({ command }) => {
    const coverage = coverageOf(command);
    const argv = coverage?.kind === 'run' && coverage.program === 'helm' ? coverage.argv : helmTemplateArgsOf(command);
    return argv ? [{ command, argv }] : [];
  });

  it('has commands of both kinds', () => {
    expect(swellRuns.length).toBeGreaterThan(1);
    expect(helmRuns.length).toBeGreaterThan(1);
  });

  it.each(swellRuns)(
    '`$command` exits 0 and says what the README promises',
    async ({ argv }) => {
      const result = await swell(argv);
      expect(result.stderr).not.toMatch(/error/i);
      expect(result.code).toBe(0);
      if (argv[0] === 'validate') expect(result.stdout).toMatch(/KEDA object\(s\) checked, 0 invalid/);
      if (argv[0] === 'dev') expect(result.stdout).toMatch(/^kube\s/m);
    },
    60_000,
  );

  it.each(helmRuns)(
    '`$command` renders with helm template',
    async ({ argv }) => {
      const helm = await ensureHelm(defaultCacheDir(), (message) => process.stderr.write(`[helm] ${message}\n`));
      const result = await run(helm, argv);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const kinds = parseAllDocuments(result.stdout).map((d) => (d.toJS() as { kind?: string } | null)?.kind);
      expect(kinds).toContain('Deployment');
      for (const set of argv.filter((_w, i) => argv[i - 1] === '--set')) {
        if (set === 'virtualNode.enabled=true') expect(result.stdout).toContain('- virtual-node');
        if (set === 'certificates.certManager.enabled=true') expect(kinds).toContain('Certificate');
        if (set.startsWith('image.repository=')) expect(result.stdout).toContain(`${set.split('=')[1] ?? ''}:`);
      }
    },
    600_000,
  );
});
