import http from 'node:http';
import https from 'node:https';

/** A keep-alive agent for one server and one set of TLS settings, which the connection pool can close. */
export class HttpAgentHandle {
  readonly agent: http.Agent;
  constructor(secure: boolean, tls: https.AgentOptions) {
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 16, ...tls }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }
  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}

export interface HttpReply {
  status: number;
  body: string;
}

/** A GET that honours the abort signal and refuses bodies larger than `maxBytes`. */
export function httpGet(
  url: URL,
  options: { agent: http.Agent; headers: Readonly<Record<string, string>>; signal: AbortSignal; maxBytes?: number },
): Promise<HttpReply> {
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const get = url.protocol === 'https:' ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: options.agent, headers: options.headers, signal: options.signal }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          request.destroy(new Error(`response from ${url.host} is larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}
