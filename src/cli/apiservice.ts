import { parseArgs } from 'node:util';
import { reportUsageError } from './usage.js';
import { createHttpKubeClient } from '../kube/client.js';
import { loadKubeConfig } from '../kube/config.js';
import { handBack, handOver } from '../metrics-api/hand-over.js';

const help = `usage: swell apiservice <hand-over|hand-back> [options]

Hands APIService v1beta1.external.metrics.k8s.io from the external metrics server that owns it (e.g.
prometheus-adapter) to swell, and back. swell then serves its ScaledObjects' metrics and forwards every other
metric to that server (its upstream metrics server). The chart runs hand-over before it installs
and hand-back after it is uninstalled (apiService.handOver=true).

  hand-over  record the APIService as it is now in a ConfigMap (the first record wins; nothing to do when there
             is no APIService); with --helm-release also mark it as that release's, so helm install adopts it
  hand-back  put the recorded APIService back, replacing swell's, and delete the record

options:
  --namespace NS                where the record is kept (default: POD_NAMESPACE or swell-system)
  --configmap NAME              the record's ConfigMap (default swell-apiservice-previous-owner)
  --helm-release NAME           hand-over only: the Helm release that takes the APIService over
  --kubeconfig FILE             kubeconfig to use (default: KUBECONFIG, in-cluster, ~/.kube/config)
  -h, --help                    this text
`;

export async function apiserviceCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        namespace: { type: 'string' },
        configmap: { type: 'string' },
        'helm-release': { type: 'string' },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return reportUsageError('apiservice', error);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const [action, ...extra] = positionals;
  if ((action !== 'hand-over' && action !== 'hand-back') || extra.length > 0) {
    return reportUsageError('apiservice', `expected hand-over or hand-back${action ? `, got "${[action, ...extra].join(' ')}"` : ''}`);
  }
  if (values['helm-release'] && action === 'hand-back') {
    return reportUsageError('apiservice', '--helm-release is for hand-over only');
  }
  const options = {
    namespace: values.namespace ?? (process.env.POD_NAMESPACE || 'swell-system'),
    configMapName: values.configmap ?? 'swell-apiservice-previous-owner',
  };
  try {
    const client = createHttpKubeClient(loadKubeConfig({ ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}) }));
    const result =
      action === 'hand-over'
        ? await handOver(client, { ...options, ...(values['helm-release'] ? { helmRelease: values['helm-release'] } : {}) })
        : await handBack(client, options);
    process.stdout.write(`${result.message}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`swell apiservice ${action}: ${(error as Error).message}\n`);
    return 1;
  }
}
