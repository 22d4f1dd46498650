import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ComponentContext, ComponentEndpoints, SandboxComponent, SandboxPaths } from './component.js';
import { classpath, installMavenRuntime, mavenRequirements, runTool, SANDBOX_JVM_OPTIONS, type MavenRuntime, type ToolRunner } from './maven.js';
import { freePort } from './net.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'sqs';
/** Must match elasticmq.version in tools/elasticmq/pom.xml; it names the cache folder. */
export const ELASTICMQ_VERSION = '1.7.1';
/** ElasticMQ's queue URLs carry this account id; the SDK needs a region but ElasticMQ ignores it. */
export const SANDBOX_AWS_ACCOUNT = '000000000000';
export const SANDBOX_AWS_REGION = 'us-east-1';

/** ElasticMQ, an in-memory SQS-compatible server that speaks the AWS JSON protocol of @aws-sdk/client-sqs v3. */
export function sqsComponent(run: ToolRunner = runTool): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['SQS_ENDPOINT'],
    requirements: (paths) => mavenRequirements(elasticMqRuntime(paths)),
    async install(ctx: ComponentContext) {
      await installMavenRuntime(ctx, elasticMqRuntime(ctx.paths), run);
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'sqs');
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const configFile = join(dir, 'elasticmq.conf');
      await writeFile(configFile, elasticMqConfig(port));
      const daemon = await ctx.spawn({
        name: 'elasticmq',
        command: 'java',
        args: [
          ...SANDBOX_JVM_OPTIONS,
          '-Xms64m',
          '-Xmx256m',
          `-Dconfig.file=${configFile}`,
          '-cp',
          classpath(elasticMqRuntime(ctx.paths).libDir),
          'org.elasticmq.server.Main',
        ],
        cwd: dir,
      });
      const endpoint = `http://127.0.0.1:${port}`;
      await waitUntil(() => sqsAnswers(endpoint), { component: COMPONENT, what: `SQS ListQueues on ${endpoint}`, timeoutMs: 90_000, intervalMs: 500, daemon });
      return { env: { SQS_ENDPOINT: endpoint }, endpoints: { sqs: endpoint } };
    },
    async healthy(endpoints: ComponentEndpoints) {
      const endpoint = endpoints.env.SQS_ENDPOINT;
      return endpoint !== undefined && (await sqsAnswers(endpoint).catch(() => false));
    },
  };
}

function elasticMqRuntime(paths: SandboxPaths): MavenRuntime {
  return {
    component: COMPONENT,
    title: `ElasticMQ ${ELASTICMQ_VERSION}`,
    pomDir: join(paths.repoDir, 'tools', 'elasticmq'),
    libDir: join(paths.cacheDir, `elasticmq-${ELASTICMQ_VERSION}`, 'lib'),
  };
}

/**
 * ElasticMQ binds 0.0.0.0 by default and (up to 1.6) starts a stats server on a fixed port; both are pinned
 * to loopback or switched off. Queues are created by tests and scalers through the API, so none are declared.
 */
export function elasticMqConfig(port: number): string {
  return `include classpath("application.conf")
node-address { protocol = http, host = "127.0.0.1", port = ${port}, context-path = "" }
rest-sqs { enabled = true, bind-port = ${port}, bind-hostname = "127.0.0.1", sqs-limits = strict }
rest-stats { enabled = false }
generate-node-address = false
aws { region = ${SANDBOX_AWS_REGION}, accountId = "${SANDBOX_AWS_ACCOUNT}" }
pekko.loglevel = "INFO"
`;
}

/** One ListQueues without retries. ElasticMQ checks no signatures, so any credentials do. */
export async function sqsAnswers(endpoint: string): Promise<boolean> {
  const client = new SQSClient({ endpoint, region: SANDBOX_AWS_REGION, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 1 });
  try {
    await client.send(new ListQueuesCommand({}), { abortSignal: AbortSignal.timeout(3000) });
    return true;
  } finally {
    client.destroy();
  }
}
