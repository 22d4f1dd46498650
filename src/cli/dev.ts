import { parseArgs } from 'node:util';
import { reportUsageError } from './usage.js';
import { componentNames } from '../sandbox/component.js';
import { defaultComponents, parseComponentList, sandboxComponents } from '../sandbox/components.js';
import { ensureHelm } from '../sandbox/helm.js';
import { buildConsumerImage, buildSwellImage } from '../sandbox/images.js';
import { defaultCacheDir, findRepoDir, sandboxPaths } from '../sandbox/paths.js';
import type { KubeOptions } from '../sandbox/kube.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { createLogger } from '../log.js';

const help = `usage: swell dev <up|status|down|install|images> [options]

  up       check prerequisites (as root: apt-get installs missing Debian packages; otherwise prints the
           command and stops), build or download what is missing (first run: minutes), start the servers on
           127.0.0.1, and write <state-dir>/env with KUBECONFIG, REDIS_URL, KAFKA_BROKERS, SQS_ENDPOINT,
           PROMETHEUS_URL, SWELL_DEV_NODE_CONTAINERD, and for aws (an AWS API emulator) AWS_ENDPOINT_URL_ECS,
           SWELL_AWS_SUBNET and the like; run again after a server died, it starts just that one again on its
           ports with its data
  status   show which servers run and where (and which died)
  down     stop everything up started
  install  only build or download what is missing into the cache, and helm for the chart tests
           (CI runs this before the tests)
  images   build swell's image from the Dockerfile and the demo consumer image with buildah, on a local
           Debian bookworm + Node.js base (no registry or Docker engine needed; cached by content), and
           print each image's name and the archive to load with \`ctr -n k8s.io images import\`

options:
  --components LIST   comma-separated subset of ${componentNames.join(',')} (default: all; node,
                      the real kubelet node with containerd, only when running as root)
  --state-dir DIR     where state, logs and the env file live (default: .swell/dev in the checkout)
  --hpa-sync-period S the controller manager's HPA sync period in seconds when kube starts (default 2, so tests
                      see the HPA react quickly; 15 is what a real cluster uses)
`;

export async function devCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        components: { type: 'string' },
        'state-dir': { type: 'string' },
        'hpa-sync-period': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return reportUsageError('dev', error);
  }
  const [action] = parsed.positionals;
  if (parsed.values.help || !action) {
    process.stdout.write(help);
    return parsed.values.help ? 0 : 2;
  }
  let kube: KubeOptions;
  try {
    kube = hpaOptions(parsed.values['hpa-sync-period']);
  } catch (error) {
    return reportUsageError('dev', error);
  }
  const started = Date.now();
  const progress = (message: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
  const sandbox = new Sandbox({
    paths: sandboxPaths({ stateDir: parsed.values['state-dir'] }),
    components: sandboxComponents(kube),
    log: createLogger({ name: 'sandbox', level: process.env.SWELL_LOG_LEVEL ?? 'warn' }),
    progress,
  });
  try {
    const root = process.getuid?.() === 0;
    const starts = action === 'up' || action === 'install';
    const names = parsed.values.components ? parseComponentList(parsed.values.components) : starts ? defaultComponents(root) : [...componentNames];
    if (!parsed.values.components && !root && starts) progress('node: left out (the real node needs root; kwok nodes and the rest start as usual)');
    switch (action) {
      case 'up': {
        const env = await sandbox.up(names);
        process.stdout.write(`sandbox is up (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
        for (const [key, value] of Object.entries(env)) process.stdout.write(`  ${key}=${/PASSWORD|SECRET|TOKEN/.test(key) ? '(in the env file)' : value}\n`);
        process.stdout.write(`\nsource ${sandbox.envFile} to use it; \`swell dev down\` stops it.\n`);
        return 0;
      }
      case 'install': {
        await sandbox.install(names);
        if (!parsed.values.components) progress(`helm: ${await ensureHelm(defaultCacheDir(), (m) => progress(`helm: ${m}`))}`);
        process.stdout.write(`installed ${names.join(', ')} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
        return 0;
      }
      case 'images': {
        const options = { paths: { repoDir: findRepoDir(), cacheDir: defaultCacheDir() }, progress };
        for (const image of [await buildSwellImage(options), await buildConsumerImage(options)]) {
          process.stdout.write(`${image.name} ${image.archive}${image.cached ? ' (cached)' : ''}\n`);
        }
        return 0;
      }
      case 'status': {
        for (const s of await sandbox.status()) {
          const where = s.endpoints
            ? Object.entries(s.endpoints.endpoints)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')
            : '';
          const dead = s.dead ? ` (not running: ${s.dead.join(', ')}; \`swell dev up\` restarts it)` : '';
          process.stdout.write(`${s.name.padEnd(13)} ${s.state.padEnd(10)} ${where}${dead}\n`);
        }
        return 0;
      }
      case 'down': {
        const stopped = await sandbox.down(names);
        process.stdout.write(stopped.length ? `stopped ${stopped.join(', ')}\n` : 'nothing was running\n');
        return 0;
      }
      default:
        return reportUsageError('dev', `unknown action "${action}"`);
    }
  } catch (error) {
    process.stderr.write(`swell dev ${action}: ${(error as Error).message}\n`);
    return 1;
  }
}

function hpaOptions(raw: string | undefined): KubeOptions {
  if (raw === undefined) return {};
  if (!/^[1-9]\d*$/.test(raw)) throw new Error(`--hpa-sync-period: "${raw}" is not a positive whole number of seconds`);
  return { hpaSyncPeriodSeconds: Number(raw) };
}
