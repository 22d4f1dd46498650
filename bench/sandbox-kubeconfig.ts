import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The kubeconfig a bench talks to: $KUBECONFIG, or the one `swell dev up` wrote for the checkout's dev sandbox. */
export async function sandboxKubeconfig(repo: string): Promise<string> {
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG;
  const env = await readFile(join(repo, '.swell', 'dev', 'env'), 'utf8').catch(() => '');
  const match = /KUBECONFIG='([^']+)'/.exec(env);
  if (!match?.[1]) throw new Error('no sandbox: run `npx swell dev up --components kube` first (or set KUBECONFIG)');
  return match[1];
}
