import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** A non-2xx answer from the API server, carrying the `Status` reason and message it sent. */
export class KubeRequestError extends Error {
  override readonly name = 'KubeRequestError';

  constructor(
    readonly statusCode: number,
    readonly reason: string | undefined,
    readonly path: string,
    serverMessage: string,
  ) {
    super(`GET ${path}: ${statusCode}${reason ? ` ${reason}` : ''}: ${serverMessage}`);
  }
}

export type QueryParams = Record<string, string | number | boolean | undefined>;

const REQUEST_TIMEOUT_MS = 60_000;

/**
 * GETs a JSON document from the API server with the kubeconfig's credentials. Used for paths the typed
 * clients do not cover generically, e.g. listing any collection (built-in or custom) by path.
 */
export async function getJson(config: KubeConfig, path: string, query: QueryParams, signal?: AbortSignal): Promise<unknown> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  const options: https.RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const transport = url.protocol === 'http:' ? http : https;
  const agent = options.agent;
  try {
    return await new Promise((resolve, reject) => {
      const request = transport.request(
        url,
        {
          method: 'GET',
          agent,
          auth: options.auth,
          headers: { ...options.headers, Accept: 'application/json' },
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(parse(text, path));
            else reject(errorFromStatus(status, text, path));
          });
        },
      );
      request.on('error', reject);
      request.end();
    });
  } finally {
    // client-node makes a fresh agent per call; closing it stops idle sockets accumulating.
    if (agent instanceof http.Agent) agent.destroy();
  }
}

function parse(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`GET ${path}: response is not JSON`, { cause: error });
  }
}

function errorFromStatus(status: number, text: string, path: string): KubeRequestError {
  try {
    const body = JSON.parse(text) as { reason?: unknown; message?: unknown };
    const reason = typeof body.reason === 'string' ? body.reason : undefined;
    return new KubeRequestError(status, reason, path, typeof body.message === 'string' ? body.message : text.slice(0, 200));
  } catch {
    return new KubeRequestError(status, undefined, path, text.slice(0, 200));
  }
}
