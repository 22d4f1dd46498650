import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudWatchLogsClient, CreateLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateClusterCommand, ECSClient } from '@aws-sdk/client-ecs';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent } from './component.js';
import { staticRequirements } from './prerequisites.js';
import { requireCommand, runTool, type ToolRunner } from './maven.js';
import { freePort } from './net.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'aws';
/** The AWS API emulator from PyPI; it serves ECS, EC2 and CloudWatch Logs on one port. */
export const MOTO_VERSION = '5.2.5';
export const SANDBOX_REGION = 'us-east-1';
export const SANDBOX_CLUSTER = 'swell';
export const SANDBOX_LOG_GROUP = '/swell/virtual-node';
/** The emulator checks no signatures; the SDK only needs some credentials to sign with. */
export const SANDBOX_CREDENTIALS = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' } as const;

/**
 * moto in server mode, in a Python venv in the cache. It answers the ECS, EC2 and CloudWatch Logs APIs but runs
 * no container: tasks only change state when told to. After start it holds a VPC (DNS hostnames on, which
 * RunTask needs), a subnet, a security group, an ECS cluster and a log group, and tasks stay RUNNING until
 * they are stopped (the emulator's default moves them towards STOPPED on every read).
 */
export function awsComponent(run: ToolRunner = runTool): SandboxComponent {
  return {
    name: COMPONENT,
    requirements: () => Promise.resolve(staticRequirements.aws),
    envVars: ['SWELL_AWS_ENDPOINT', 'AWS_ENDPOINT_URL_ECS', 'AWS_ENDPOINT_URL_CLOUDWATCH_LOGS', 'SWELL_AWS_SUBNET', 'SWELL_AWS_SECURITY_GROUP'],
    async install(ctx: ComponentContext) {
      await installMoto(ctx, run);
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'aws');
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const daemon = await ctx.spawn({ name: 'moto', command: venvPython(ctx), args: ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], cwd: dir });
      const endpoint = `http://127.0.0.1:${port}`;
      await waitUntil(() => motoAnswers(endpoint), { component: COMPONENT, what: `${endpoint}/moto-api/`, timeoutMs: 60_000, intervalMs: 500, daemon });
      const network = await prepareAccount(endpoint);
      return {
        env: {
          SWELL_AWS_ENDPOINT: endpoint,
          AWS_ENDPOINT_URL_ECS: endpoint,
          AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: endpoint,
          AWS_ACCESS_KEY_ID: SANDBOX_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: SANDBOX_CREDENTIALS.secretAccessKey,
          AWS_REGION: SANDBOX_REGION,
          SWELL_AWS_CLUSTER: SANDBOX_CLUSTER,
          SWELL_AWS_LOG_GROUP: SANDBOX_LOG_GROUP,
          SWELL_AWS_SUBNET: network.subnetId,
          SWELL_AWS_SECURITY_GROUP: network.securityGroupId,
        },
        endpoints: { aws: endpoint },
      };
    },
    async healthy(endpoints: ComponentEndpoints) {
      const endpoint = endpoints.env.SWELL_AWS_ENDPOINT;
      return endpoint !== undefined && (await motoAnswers(endpoint).catch(() => false));
    },
  };
}

function venvDir(ctx: ComponentContext): string {
  return join(ctx.paths.cacheDir, `moto-${MOTO_VERSION}`);
}

function venvPython(ctx: ComponentContext): string {
  return join(venvDir(ctx), 'bin', 'python');
}

/**
 * Creates the venv in a temp folder renamed into place only once pip succeeded, so an interrupted install is
 * never mistaken for a complete one. The venv's python finds its packages after the rename; its scripts'
 * shebangs would not, so the server runs as `python -m moto.server`.
 */
async function installMoto(ctx: ComponentContext, run: ToolRunner): Promise<void> {
  const target = venvDir(ctx);
  if (await exists(join(target, '.installed'))) return;
  const python = await requireCommand(COMPONENT, 'python3', 'python3');
  ctx.progress(`installing moto[server] ${MOTO_VERSION} from PyPI into a venv (first run: 1-2 min)`);
  const temp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    try {
      await run(python, ['-m', 'venv', temp], { timeoutMs: 120_000 });
    } catch (error) {
      throw new ComponentStartError(COMPONENT, `cannot create a Python venv (on Debian: apt-get install -y python3-venv): ${(error as Error).message}`);
    }
    await run(join(temp, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `moto[server]==${MOTO_VERSION}`], {
      timeoutMs: 900_000,
    });
    await writeFile(join(temp, '.installed'), `moto[server]==${MOTO_VERSION}\n`);
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/** The emulator's own API answers once the server is up. */
export async function motoAnswers(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(3000) });
  await response.arrayBuffer();
  return response.ok;
}

export interface SandboxNetwork {
  readonly vpcId: string;
  readonly subnetId: string;
  readonly securityGroupId: string;
}

/** What a Fargate task needs in the emulated account: a VPC with a subnet and a security group, a cluster, a log group. */
async function prepareAccount(endpoint: string): Promise<SandboxNetwork> {
  await setTaskTransition(endpoint, { progression: 'manual', times: 1_000_000_000 });
  const vpcId = tag(await ec2(endpoint, { Action: 'CreateVpc', CidrBlock: '10.0.0.0/16' }), 'vpcId');
  await ec2(endpoint, { Action: 'ModifyVpcAttribute', VpcId: vpcId, 'EnableDnsHostnames.Value': 'true' });
  const subnetId = tag(
    await ec2(endpoint, { Action: 'CreateSubnet', VpcId: vpcId, CidrBlock: '10.0.1.0/24', AvailabilityZone: `${SANDBOX_REGION}a` }),
    'subnetId',
  );
  const securityGroupId = tag(
    await ec2(endpoint, { Action: 'CreateSecurityGroup', VpcId: vpcId, GroupName: 'swell-tasks', GroupDescription: 'swell sandbox tasks' }),
    'groupId',
  );
  const config = { endpoint, region: SANDBOX_REGION, credentials: SANDBOX_CREDENTIALS, maxAttempts: 1 };
  const ecs = new ECSClient(config);
  const logs = new CloudWatchLogsClient(config);
  try {
    await ecs.send(new CreateClusterCommand({ clusterName: SANDBOX_CLUSTER }));
    await logs.send(new CreateLogGroupCommand({ logGroupName: SANDBOX_LOG_GROUP }));
  } finally {
    ecs.destroy();
    logs.destroy();
  }
  return { vpcId, subnetId, securityGroupId };
}

/** How the emulator moves ECS tasks through their states on each read (its state manager). */
export async function setTaskTransition(endpoint: string, transition: { progression: 'manual'; times: number } | { progression: 'immediate' }): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/state-manager/set-transition`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model_name: 'ecs::task', transition }),
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new ComponentStartError(COMPONENT, `setting the ECS task transition answered HTTP ${response.status}`);
}

/**
 * One EC2 Query API call. The emulator routes by the credential scope of the Authorization header and checks
 * no signature, so a placeholder header does; this saves the project a full EC2 SDK for three setup calls.
 */
async function ec2(endpoint: string, params: Record<string, string>): Promise<string> {
  const response = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `AWS4-HMAC-SHA256 Credential=${SANDBOX_CREDENTIALS.accessKeyId}/20260101/${SANDBOX_REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Version: '2016-11-15', ...params }).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.text();
  if (!response.ok) throw new ComponentStartError(COMPONENT, `EC2 ${params.Action ?? ''} answered HTTP ${response.status}: ${body.slice(0, 300)}`);
  return body;
}

function tag(xml: string, name: string): string {
  const value = new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1];
  if (!value) throw new ComponentStartError(COMPONENT, `no <${name}> in the emulator's answer: ${xml.slice(0, 300)}`);
  return value;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
