/*
 * Hostile input for `swell validate` and the KEDA admission webhook: alias bombs, deep nesting, huge documents,
 * binary and invalid UTF-8, prototype keys, wrong types and random corruption, each file also carrying a secret
 * planted where secrets live (Secret data and stringData, TriggerAuthentication credentials, secret trigger
 * fields, a Job's environment), in well-formed and malformed documents alike. Every input must end in an
 * answer (an exit code with named problems, an admission verdict or a 400) within the hang guard, and the
 * planted secret must appear in no output: text, JSON, admission responses or logs.
 *
 * Figures (inputs tried, planted secrets found) are printed and written to .swell/faults/hostile-input.json.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDocuments } from '../../src/cli/manifest-documents.js';
import { decodeInput, runValidate } from '../../src/cli/validate.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createCertificateAuthority, issueServerCertificate } from '../../src/pki/index.js';
import { kedaAdmissionHandler, kedaWebhookPaths } from '../../src/webhooks/index.js';
import { WebhookServer } from '../../src/webhooks/server.js';
import { createSystemClock } from '../../src/controller/clock.js';

const repo = join(import.meta.dirname, '..', '..');
const secret = `planted-${randomBytes(12).toString('hex')}`;
const secretForms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
/** The hang guard: far above any real run, only there so a hang fails with the input's name. */
const hangGuardMs = 30_000;

const scratch = mkdtempSync(join(tmpdir(), 'swell-hostile-'));
const logLines: string[] = [];
const figures = { inputs: 0, validateRuns: 0, admissionReviews: 0, rawBodies: 0, compiledCliRuns: 0, plantedSecretsFound: 0, slowestValidateMs: 0 };
const leaks: string[] = [];

function checkNoSecret(where: string, text: string): void {
  for (const form of secretForms) {
    if (text.includes(form)) {
      figures.plantedSecretsFound += 1;
      leaks.push(`${where}: ${text.slice(Math.max(0, text.indexOf(form) - 80), text.indexOf(form) + 20)}`);
    }
  }
}

function guard<T>(what: string, run: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${hangGuardMs} ms`)), hangGuardMs);
  });
  return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------------------
// The corpus

const b64 = Buffer.from(secret).toString('base64');
const secretDoc = `apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: shop}\ntype: Opaque\ndata:\n  password: ${b64}\nstringData:\n  token: ${secret}\n`;
const scaledObject = `apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: orders, namespace: shop}\nspec:\n  scaleTargetRef: {name: worker}\n  triggers:\n    - type: redis\n      metadata: {address: "redis:6379", listName: jobs, listLength: "5", password: ${secret}}\n      authenticationRef: {name: creds}\n`;
const triggerAuth = `apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: creds, namespace: shop}\nspec:\n  secretTargetRef: [{parameter: password, name: creds, key: password}]\n  hashiCorpVault: {address: "https://vault:8200", authentication: token, credential: {token: ${secret}}, secrets: []}\n`;
const scaledJob = `apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: transcoder, namespace: media}\nspec:\n  jobTargetRef:\n    template:\n      spec:\n        containers: [{name: t, image: t:1, env: [{name: TOKEN, value: ${secret}}]}]\n  pollingInterval: -3\n  triggers: [{type: redis, metadata: {address: "redis:6379", listName: videos, listLength: "-1", password: ${secret}}}]\n`;
const sound = [secretDoc, scaledObject, triggerAuth, scaledJob].join('---\n');

function billionLaughs(levels: number, width: number, payload: string): string {
  let text = `l0: &l0 "${payload}"\n`;
  for (let level = 1; level <= levels; level += 1) text += `l${level}: &l${level} [${Array.from({ length: width }, () => `*l${level - 1}`).join(', ')}]\n`;
  return text;
}

const fixedCorpus: [name: string, content: string | Buffer][] = [
  ['sound manifests beside a Secret', sound],
  ['a Secret with a YAML error after its values', `${secretDoc}   broken: [unclosed\n---\n${scaledObject}`],
  ['a Secret with an unterminated quote', `apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  token: "${secret}\n  other: x\n`],
  ['a Secret with tab indentation', `apiVersion: v1\nkind: Secret\nstringData:\n\ttoken: ${secret}\n`],
  ['a Secret with a duplicate key', `apiVersion: v1\nkind: Secret\nstringData:\n  token: ${secret}\n  token: ${secret}\n`],
  ['a Secret whose value is an undefined alias', `apiVersion: v1\nkind: Secret\nstringData:\n  token: *${secret}\n`],
  ['a Secret in JSON with a syntax error', `{"apiVersion": "v1", "kind": "Secret", "stringData": {"token": "${secret}"},, }`],
  [
    'a Secret in a List beside an invalid ScaledObject',
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Secret', stringData: { token: secret } },
        { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x' }, spec: 5 },
      ],
    }),
  ],
  ['a Secret with a misspelt apiVersion key', `apiversion: v1\nkind: Secret\nstringData: {token: ${secret}}\n`],
  ['a KEDA object with a YAML error beside its credentials', `${triggerAuth}  oops: [\n`],
  ['an alias bomb carrying a secret', billionLaughs(9, 9, secret)],
  ['an alias bomb inside a ScaledObject', `${scaledObject}  extra: ${billionLaughs(9, 9, secret).replace(/\n/g, ' ')}\n`],
  ['a wide alias fan-out', `a: &a [${secret}]\nb: [${Array.from({ length: 5000 }, () => '*a').join(', ')}]\n`],
  ['flow nesting 100000 deep', `${secretDoc}---\nspec: ${'['.repeat(100_000)}${secret}${']'.repeat(100_000)}\n`],
  ['block nesting 3000 deep', `${secretDoc}---\n${Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} ${secret}\n`],
  ['mapping nesting inside a ScaledObject', `${scaledObject}  advanced: ${'{a: '.repeat(5000)}${secret}${'}'.repeat(5000)}\n`],
  ['a dedent of 3000 levels', `${secretDoc}---\n${Array.from({ length: 6000 }, (_, i) => `${' '.repeat(i % 3000)}k${i}:`).join('\n')} ${secret}\n`],
  ['a 4 MiB Secret', `apiVersion: v1\nkind: Secret\nstringData:\n  token: "${secret}${'x'.repeat(4 * 1024 * 1024)}"\n`],
  [
    'a 1 MiB annotation on a ScaledObject',
    scaledObject.replace(
      'metadata: {name: orders, namespace: shop}',
      `metadata: {name: orders, namespace: shop, annotations: {big: "${'y'.repeat(1024 * 1024)}"}}`,
    ),
  ],
  ['20000 tiny documents', `${secretDoc}${'---\nkind: ConfigMap\n'.repeat(20_000)}`],
  ['a 2 MiB line of garbage', `${secretDoc}---\n${'@'.repeat(2 * 1024 * 1024)}\n`],
  ['a key over 1024 characters', `${'k'.repeat(3000)}: ${secret}\n`],
  ['binary with NUL bytes', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]), Buffer.from(secret), randomBytes(4096)])],
  ['invalid UTF-8', Buffer.concat([Buffer.from(`${secretDoc}---\nkind: `), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(` ${secret}\n`)])],
  ['UTF-16 with a BOM', Buffer.from(`\ufeff${secretDoc}`, 'utf16le')],
  ['control characters', `${secretDoc}---\nkind: \u0007\u001b[31m${secret}\u0008\n`],
  [
    'prototype keys everywhere',
    `apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: p, namespace: shop, __proto__: {polluted: yes}, annotations: {__proto__: x, constructor: y}, labels: {__proto__: {polluted: yes}}}\nspec:\n  __proto__: {polluted: yes}\n  constructor: {prototype: {polluted: yes}}\n  scaleTargetRef: {name: w, __proto__: {polluted: yes}}\n  triggers: [{type: redis, __proto__: {polluted: yes}, metadata: {__proto__: x, constructor: y, toString: z, address: "r:1", listName: l, password: ${secret}}}]\n`,
  ],
  [
    'a JSON object with __proto__ keys',
    `{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "__proto__": {"polluted": "yes"}, "metadata": {"name": "j", "__proto__": {"polluted": "yes"}}, "spec": {"__proto__": {"polluted": "yes"}, "scaleTargetRef": {"name": "w"}, "triggers": [{"type": "cron", "metadata": {"__proto__": "${secret}"}}]}}`,
  ],
  [
    'wrong types in every KEDA field',
    `apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: 123, namespace: [a], annotations: {a: 1, b: [x]}, labels: 7}\nspec: {scaleTargetRef: 5, minReplicaCount: "x", triggers: [7, null, {type: [], metadata: [${secret}]}, {type: redis, metadata: {listLength: {a: 1}, password: ${secret}}}]}\n`,
  ],
  [
    'a TriggerAuthentication of wrong types',
    `apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: t}\nspec: {secretTargetRef: {parameter: 1}, hashiCorpVault: {credential: {token: [${secret}]}}, oauth2: 7, env: "${secret}"}\n`,
  ],
  [
    'a kind: List of junk',
    `apiVersion: v1\nkind: List\nitems: [1, "${secret}", null, [], {kind: Secret, data: {a: ${b64}}}, {apiVersion: keda.sh/v1alpha1, kind: ScaledJob}]\n`,
  ],
  ['a keda.sh apiVersion of another version', `apiVersion: keda.sh/v2\nkind: ScaledObject\nmetadata: {name: v}\nspec: {token: ${secret}}\n`],
  [
    'tags and merge keys',
    `base: &b {token: ${secret}}\nobj: !!map {<<: *b, kind: !!binary aGVsbG8=}\nx: !custom ${secret}\n---\n%YAML 9.9\n--- !!str\n${secret}\n`,
  ],
  ['a directive without a document', `%TAG ! tag:${secret}:\n`],
  ['only document markers', '---\n...\n---\n...\n'],
  ['empty', ''],
  ['only whitespace and comments', `\n\n   \n# ${secret}\n`],
  ['CRLF line ends', sound.replace(/\n/g, '\r\n')],
  ['a truncated manifest', sound.slice(0, Math.floor(sound.length * 0.6))],
];

// ---------------------------------------------------------------------------------------------------------
// The targets

let fileNumber = 0;
function writeInput(content: string | Buffer): string {
  fileNumber += 1;
  const path = join(scratch, `input-${fileNumber}.yaml`);
  writeFileSync(path, content);
  return path;
}

interface JsonReport {
  results: { valid: boolean; errors: { path: string; message: string }[] }[];
  problems: { message: string }[];
  summary: { objects: number; invalid: number; problems: number; exitCode: number };
}

/** Both output formats: an exit code the README documents, a named reason for any non-zero one, no secret. */
async function throughValidate(name: string, path: string): Promise<void> {
  for (const output of ['json', 'text'] as const) {
    const started = performance.now();
    const result = await guard(`validate ${name}`, runValidate(['-f', path, '--output', output]));
    figures.slowestValidateMs = Math.max(figures.slowestValidateMs, Math.round(performance.now() - started));
    figures.validateRuns += 1;
    checkNoSecret(`validate --output ${output} on ${name}`, result.stdout + result.stderr);
    expect([0, 1, 2], name).toContain(result.exitCode);
    expect(result.stderr, name).toBe('');
    if (output === 'text') {
      expect(result.stdout, name).toMatch(/KEDA object\(s\) checked/);
      continue;
    }
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(report.summary.exitCode, name).toBe(result.exitCode);
    const named = [...report.problems.map((p) => p.message), ...report.results.flatMap((r) => r.errors.map((e) => e.message))];
    if (result.exitCode !== 0) expect(named.length, `${name}: a non-zero exit names its reason`).toBeGreaterThan(0);
    for (const message of named) expect(message.trim(), name).not.toBe('');
  }
}

function expandLists(value: unknown): unknown[] {
  if (value === null || typeof value !== 'object') return [value];
  const { kind, items } = value as { kind?: unknown; items?: unknown };
  return kind === 'List' && Array.isArray(items) ? items.flatMap(expandLists) : [value];
}

/** Every value the input holds, as the apiserver would send it to the webhook (admission sees parsed objects only). */
function objectsOf(content: string | Buffer): unknown[] {
  const decoded = decodeInput(Buffer.isBuffer(content) ? content : Buffer.from(content));
  if ('problem' in decoded) return [];
  const values: unknown[] = [];
  for (const doc of manifestDocuments(decoded.text)) if (doc.kind === 'value') values.push(...expandLists(doc.value));
  return values;
}

let server: WebhookServer;
let caPem: string;
const emptyCluster: KubeClient = { request: <T>() => Promise.resolve({ items: [] } as T) };

function post(path: string, body: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path, method: 'POST', ca: caPem, servername: 'localhost', headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Each object as a CREATE and as an UPDATE from an empty object, through the served webhook. */
async function throughWebhook(name: string, objects: readonly unknown[]): Promise<void> {
  for (const object of objects.slice(0, 20)) {
    for (const operation of ['CREATE', 'UPDATE'] as const) {
      const kind =
        typeof object === 'object' && object !== null && typeof (object as { kind?: unknown }).kind === 'string'
          ? (object as { kind: string }).kind
          : 'ScaledObject';
      const review = {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: `u${figures.admissionReviews}`,
          kind: { group: 'keda.sh', version: 'v1alpha1', kind },
          operation,
          namespace: 'shop',
          object,
          ...(operation === 'UPDATE' ? { oldObject: {} } : {}),
        },
      };
      const response = await guard(`webhook ${name}`, post(kedaWebhookPaths.scaledObject, JSON.stringify(review)));
      figures.admissionReviews += 1;
      checkNoSecret(`webhook ${operation} on ${name}`, response.body);
      expect(response.status, name).toBe(200);
      const answer = JSON.parse(response.body) as { response: { allowed: boolean; status?: { message: string } } };
      if (!answer.response.allowed) expect(answer.response.status?.message.trim(), name).not.toBe('');
    }
  }
}

/** The raw input as a request body: refused with 400 and a reason, quoting nothing. */
async function rawBody(name: string, content: string | Buffer): Promise<void> {
  const response = await guard(`webhook raw ${name}`, post(kedaWebhookPaths.scaledJob, content));
  figures.rawBodies += 1;
  checkNoSecret(`webhook raw body ${name}`, response.body);
  expect(response.status, name).toBeGreaterThanOrEqual(200);
  if (response.status !== 200) expect(response.body, name).toMatch(/^not an AdmissionReview: /);
}

async function tryInput(name: string, content: string | Buffer): Promise<void> {
  figures.inputs += 1;
  await throughValidate(name, writeInput(content));
  await throughWebhook(name, objectsOf(content));
  if (content.length < 1024 * 1024) await rawBody(name, content);
  expect(({} as Record<string, unknown>)['polluted'], `${name} polluted Object.prototype`).toBeUndefined();
}

beforeAll(async () => {
  const ca = await createCertificateAuthority({ commonName: 'hostile-input-ca' });
  const serving = await issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  caPem = ca.certificatePem;
  const log = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logLines.push(chunk.toString('utf8')), done()) }));
  const handler = kedaAdmissionHandler({ client: emptyCluster });
  const routes = Object.values(kedaWebhookPaths).map((path) => ({ path, kind: 'validating' as const, handler }));
  server = await WebhookServer.start({ routes, servingCertificate: serving, log, clock: createSystemClock(), host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await server?.close(0);
  checkNoSecret('webhook logs', logLines.join(''));
  rmSync(scratch, { recursive: true, force: true });
  const file = join(repo, '.swell', 'faults', 'hostile-input.json');
  mkdirSync(join(repo, '.swell', 'faults'), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ ...figures, leaks, recordedAt: new Date().toISOString() }, null, 2)}\n`);
  process.stdout.write(`[faults] hostile-input: ${JSON.stringify(figures)}\n`);
  expect(leaks).toEqual([]);
});

describe('hostile input', () => {
  it.each(fixedCorpus)(
    '%s',
    async (name, content) => {
      await tryInput(name, content);
      expect(leaks).toEqual([]);
    },
    120_000,
  );

  // The apiserver decodes objects up to 10000 levels deep; the webhook must answer for those and deeper ones.
  it.each([100, 10_000, 100_000])(
    'admission reviews of objects nested %i levels deep',
    async (depth) => {
      for (const operation of ['CREATE', 'UPDATE']) {
        const nested = `${'{"a":'.repeat(depth)}"${secret}"${'}'.repeat(depth)}`;
        const object = `{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject","metadata":{"name":"deep","namespace":"shop"},"spec":{"scaleTargetRef":{"name":"w"},"triggers":[{"type":"redis","metadata":{"address":"r:1","listName":"l","password":"${secret}"}}],"advanced":${nested}}}`;
        const body = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","kind":{"group":"keda.sh","version":"v1alpha1","kind":"ScaledObject"},"operation":"${operation}","namespace":"shop","object":${object}${operation === 'UPDATE' ? `,"oldObject":${object.replace('{"name":"w"}', '{"name":"old"}')}` : ''}}}`;
        figures.inputs += 1;
        const response = await guard(`deep review ${depth}`, post(kedaWebhookPaths.scaledObject, body));
        figures.rawBodies += 1;
        checkNoSecret(`deep review ${depth} ${operation}`, response.body);
        expect(response.status).toBe(200);
        const answer = JSON.parse(response.body) as { response: { allowed: boolean; status?: { message: string }; warnings?: string[] } };
        expect(answer.response.allowed, `${operation} ${depth}: ${JSON.stringify(answer.response)}`).toBe(false);
        expect(answer.response.status?.message).toMatch(/spec\.advanced\.a: unknown field/);
      }
      expect(leaks).toEqual([]);
    },
    120_000,
  );

  // Property-based: random values (prototype keys among them) in every position of a KEDA object, beside a Secret.
  it('random values in every field of KEDA objects', async () => {
    const key = fc.oneof(
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'type', 'metadata', 'name', 'spec', 'triggers'),
      fc.string({ maxLength: 12 }),
    );
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null)),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(key, tie('value'), { maxKeys: 4 }),
      ),
    }));
    const positions: ((v: unknown) => unknown)[] = [
      (v) => ({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'r', namespace: 'shop' }, spec: v }),
      (v) => ({
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: v,
        spec: { scaleTargetRef: { name: 'w' }, triggers: [{ type: 'cron', metadata: {} }] },
      }),
      (v) => ({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'r' }, spec: { scaleTargetRef: { name: 'w' }, triggers: [v] } }),
      (v) => ({
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledJob',
        metadata: { name: 'r' },
        spec: { jobTargetRef: v, triggers: [{ type: 'redis', metadata: { password: secret, listLength: v } }] },
      }),
      (v) => ({
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'TriggerAuthentication',
        metadata: { name: 'r' },
        spec: { hashiCorpVault: { credential: { token: secret } }, podIdentity: v },
      }),
      (v) => ({
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'r', annotations: v },
        spec: {
          scaleTargetRef: { name: 'w' },
          advanced: { scalingModifiers: v },
          fallback: v,
          triggers: [{ type: 'prometheus', metadata: { serverAddress: 'http://p:9090', query: 'up', threshold: '1', bearerToken: secret } }],
        },
      }),
      (v) => ({ apiVersion: 'v1', kind: 'List', items: [v, { apiVersion: 'v1', kind: 'Secret', stringData: { token: secret } }] }),
    ];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: positions.length - 1 }), value, async (position, v) => {
        const object = (positions[position] as (v: unknown) => unknown)(v);
        await tryInput(`random value at position ${position}`, `${secretDoc}---\n${JSON.stringify(object)}\n`);
      }),
      { numRuns: 150 },
    );
    expect(leaks).toEqual([]);
  }, 300_000);

  // Property-based: sound manifests corrupted at random places (deletions, insertions, cuts), the Secret among them.
  it('randomly corrupted manifests', async () => {
    const edit = fc.record({
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      remove: fc.integer({ min: 0, max: 8 }),
      insert: fc.constantFrom('', '[', ']', '{', '}', ':', '- ', '"', "'", '\n', '\t', '&a ', '*a', '---\n', '#', '|', '>', '!!', '%', '\u0000', '\ufffd'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 6 }), async (edits) => {
        let text = sound;
        for (const { at, remove, insert } of edits) {
          const i = Math.floor(at * text.length);
          text = text.slice(0, i) + insert + text.slice(i + remove);
        }
        await tryInput('a corrupted manifest', text);
      }),
      { numRuns: 200 },
    );
    expect(leaks).toEqual([]);
  }, 300_000);

  it('random bytes around a secret', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ maxLength: 256 }), async (before, after) => {
        await tryInput('random bytes', Buffer.concat([before, Buffer.from(secret), after]));
      }),
      { numRuns: 100 },
    );
    expect(leaks).toEqual([]);
  }, 300_000);
});

// What users run: the compiled CLI, built from these sources into a scratch folder and started as a process.
describe('the compiled swell validate', () => {
  const run = promisify(execFile);
  let app: string;

  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'swell-cli-'));
    await run(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], {
      cwd: repo,
      timeout: 600_000,
    });
    cpSync(join(repo, 'bin'), join(app, 'bin'), { recursive: true });
    cpSync(join(repo, 'package.json'), join(app, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(app, 'node_modules'), 'dir');
  }, 600_000);

  afterAll(() => {
    if (app) rmSync(app, { recursive: true, force: true });
  });

  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    figures.compiledCliRuns += 1;
    try {
      const { stdout, stderr } = await run(process.execPath, [join(app, 'bin', 'swell.js'), 'validate', ...args], {
        cwd: repo,
        timeout: hangGuardMs,
        maxBuffer: 64 * 1024 * 1024,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof failed.code !== 'number') throw error;
      return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  }

  it.each<[string, string | Buffer, number]>([
    ['a README example', '', 0],
    ['sound manifests with an invalid ScaledJob beside a Secret', sound, 1],
    ['a Secret with a YAML error', `${secretDoc}   broken: [unclosed\n`, 2],
    ['an alias bomb', billionLaughs(9, 9, secret), 2],
    ['binary input', Buffer.concat([Buffer.from([0, 1, 2, 0xff]), Buffer.from(secret)]), 2],
    ['an empty file', '', 2],
    ['a misspelt apiVersion key', `apiversion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {}\n`, 1],
    ['only a ConfigMap', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n', 2],
  ])(
    'exits as documented for %s, with JSON and no stack trace',
    async (name, content, expected) => {
      const path = name === 'a README example' ? join(repo, 'examples', 'redis-list.yaml') : writeInput(content);
      for (const output of ['json', 'text']) {
        const { code, stdout, stderr } = await cli(['-f', path, '-o', output]);
        checkNoSecret(`compiled validate ${output} on ${name}`, stdout + stderr);
        expect(code, name).toBe(expected);
        expect(stderr, name).not.toMatch(/\n\s+at /);
        if (output === 'json') expect((JSON.parse(stdout) as JsonReport).summary.exitCode).toBe(expected);
      }
    },
    120_000,
  );

  it('exits quietly when its reader stops early (| head)', async () => {
    const docs = Array.from(
      { length: 3000 },
      (_, i) => `apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: t${i}, namespace: shop}\nspec: {}\n`,
    ).join('---\n');
    const path = writeInput(docs);
    figures.compiledCliRuns += 1;
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(app, 'bin', 'swell.js'), 'validate', '-f', path, '-o', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('error', reject);
      child.on('close', (exit) => resolve({ code: exit, stderr: err }));
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 60_000);

  it('accepts an empty input with --allow-empty, and answers a usage error in JSON', async () => {
    expect((await cli(['-f', writeInput(''), '--allow-empty'])).code).toBe(0);
    const usage = await cli(['--output', 'json', '--no-such-flag']);
    expect(usage.code).toBe(2);
    expect((JSON.parse(usage.stdout) as JsonReport).summary.exitCode).toBe(2);
    expect(usage.stderr).toMatch(/^swell validate: /);
  }, 60_000);
});
