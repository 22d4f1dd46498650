import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComponentContext, ComponentEndpoints, SandboxComponent } from './component.js';
import { requireCommand } from './maven.js';
import { freePort } from './net.js';
import { staticRequirements } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'rabbitmq';
/** Debian installs the real start script here; /usr/sbin/rabbitmq-server switches to the system service's user and folders. */
export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
/** The sandbox broker's account; a test fixture, not a secret worth protecting. */
export const RABBITMQ_SANDBOX_USER = { username: 'swell', password: 'swell-secret' } as const;

export interface RabbitMqPorts {
  readonly amqp: number;
  readonly management: number;
  readonly distribution: number;
  readonly epmd: number;
}

/**
 * Debian's rabbitmq-server with the management plugin, as a child process with its own node name, data folder
 * and ports (never the system service). Erlang's port mapper runs as a daemon of this sandbox on a port of its
 * own, so `swell dev down` stops it too and it never meets another node's.
 */
export function rabbitMqComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['RABBITMQ_AMQP_URL', 'RABBITMQ_MANAGEMENT_URL'],
    requirements: () => Promise.resolve(staticRequirements.rabbitmq),
    async install() {
      await requireCommand(COMPONENT, 'epmd', 'rabbitmq-server');
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'rabbitmq');
      await mkdir(join(dir, 'log'), { recursive: true });
      const ports = await rabbitMqPorts();
      await writeFile(join(dir, 'rabbitmq.conf'), rabbitMqConfig(ports));
      await writeFile(join(dir, 'enabled_plugins'), '[rabbitmq_management].\n');
      const epmd = await ctx.spawn({ name: 'epmd', command: 'epmd', args: ['-port', String(ports.epmd), '-address', '127.0.0.1'], cwd: dir });
      await waitUntil(() => Promise.resolve(epmd.alive()), { component: COMPONENT, what: 'epmd', timeoutMs: 5000, daemon: epmd });
      const daemon = await ctx.spawn({ name: 'rabbitmq-server', command: RABBITMQ_SERVER, args: [], env: rabbitMqEnv(dir, ports), cwd: dir });
      const endpoints = rabbitMqEndpoints(ports);
      await waitUntil(() => rabbitMqAnswers(endpoints.env), {
        component: COMPONENT,
        what: 'the management API overview',
        timeoutMs: 120_000,
        intervalMs: 500,
        daemon,
      });
      return endpoints;
    },
    async healthy(endpoints: ComponentEndpoints) {
      return rabbitMqAnswers(endpoints.env).catch(() => false);
    },
  };
}

async function rabbitMqPorts(): Promise<RabbitMqPorts> {
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort());
  const [amqp, management, distribution, epmd] = [...ports] as [number, number, number, number];
  return { amqp, management, distribution, epmd };
}

/**
 * Loopback listeners only, the sandbox account as the default user, and statistics every second (the default
 * is 5 s) so the management API's message rates follow a test quickly.
 */
export function rabbitMqConfig(ports: RabbitMqPorts): string {
  return [
    `listeners.tcp.default = 127.0.0.1:${ports.amqp}`,
    'management.tcp.ip = 127.0.0.1',
    `management.tcp.port = ${ports.management}`,
    `default_user = ${RABBITMQ_SANDBOX_USER.username}`,
    `default_pass = ${RABBITMQ_SANDBOX_USER.password}`,
    'collect_statistics_interval = 1000',
    '',
  ].join('\n');
}

/** Everything the start script would otherwise take from /etc/rabbitmq and /var/lib/rabbitmq. */
export function rabbitMqEnv(dir: string, ports: RabbitMqPorts): Record<string, string> {
  return {
    HOME: dir,
    RABBITMQ_NODENAME: `swell${ports.amqp}@localhost`,
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_LOGS: '-',
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    RABBITMQ_DIST_PORT: String(ports.distribution),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_EPMD_PORT: String(ports.epmd),
  };
}

export function rabbitMqEndpoints(ports: RabbitMqPorts): ComponentEndpoints {
  const { username, password } = RABBITMQ_SANDBOX_USER;
  const amqp = `amqp://${username}:${password}@127.0.0.1:${ports.amqp}/`;
  const management = `http://${username}:${password}@127.0.0.1:${ports.management}/`;
  return {
    env: { RABBITMQ_AMQP_URL: amqp, RABBITMQ_MANAGEMENT_URL: management },
    endpoints: { 'rabbitmq (AMQP)': `127.0.0.1:${ports.amqp}`, 'rabbitmq (management)': `http://127.0.0.1:${ports.management}` },
  };
}

/** The management API answers once the node has booted its plugins; AMQP listens before that. */
export async function rabbitMqAnswers(env: Readonly<Record<string, string>>): Promise<boolean> {
  const management = env.RABBITMQ_MANAGEMENT_URL;
  if (!management) return false;
  const url = new URL('api/overview', management);
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  url.username = '';
  url.password = '';
  const response = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(2000) });
  await response.body?.cancel();
  return response.ok;
}
