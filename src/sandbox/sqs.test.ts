import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from './net.js';
import { ELASTICMQ_VERSION, elasticMqConfig, sqsComponent } from './sqs.js';

describe('elasticMqConfig', () => {
  const config = elasticMqConfig(45678);

  it.each([
    ['binds the SQS server to loopback on the given port', /rest-sqs \{[^}]*bind-port = 45678, bind-hostname = "127\.0\.0\.1"/],
    ['puts the same address into queue URLs', /node-address \{[^}]*host = "127\.0\.0\.1", port = 45678/],
    ['switches the stats server off', /rest-stats \{ enabled = false \}/],
    ['keeps the generated address from replacing it', /generate-node-address = false/],
    ['uses the account id of queue URLs that tests expect', /accountId = "000000000000"/],
  ])('%s', (_name, pattern) => {
    expect(config).toMatch(pattern);
  });
});

it('ELASTICMQ_VERSION matches elasticmq.version in tools/elasticmq/pom.xml and is at least 1.6.16', async () => {
  const pom = await readFile(join(import.meta.dirname, '..', '..', 'tools', 'elasticmq', 'pom.xml'), 'utf8');
  expect(/<elasticmq\.version>([^<]+)<\/elasticmq\.version>/.exec(pom)?.[1]).toBe(ELASTICMQ_VERSION);
  const [major = 0, minor = 0, patch = 0] = ELASTICMQ_VERSION.split('.').map(Number);
  expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(1_006_016);
});

describe('healthy', () => {
  // A probe that waited on a retry or a long connect time-out would run into the test's own time-out.
  it('is false, without waiting on a time-out, when nothing listens or the env is missing', { timeout: 5_000 }, async () => {
    const component = sqsComponent();
    const port = await freePort();
    expect(await component.healthy({ env: { SQS_ENDPOINT: `http://127.0.0.1:${port}` }, endpoints: {} })).toBe(false);
    expect(await component.healthy({ env: {}, endpoints: {} })).toBe(false);
  });
});
