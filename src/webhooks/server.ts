import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Clock, Timer } from '../controller/clock.js';
import type { Logger } from '../log.js';
import { admissionResponse, parseAdmissionReview, type AdmissionHandler, type AdmissionVerdict } from './admission.js';

/** A serving key pair, PEM. */
export interface ServingKeyPair {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** One webhook: a path and its handler. Mutating and validating webhooks share the server and the fail-open rule. */
export interface WebhookRoute {
  readonly path: string;
  readonly kind: 'validating' | 'mutating';
  readonly handler: AdmissionHandler;
}

export interface WebhookServerOptions {
  readonly routes: readonly WebhookRoute[];
  readonly servingCertificate: ServingKeyPair;
  readonly log: Logger;
  /** Default 0.0.0.0 (every interface, as in a pod); local runs pass 127.0.0.1. */
  readonly host?: string;
  /** Default 9443 (KEDA's webhook port); 0 picks a free port. */
  readonly port?: number;
  /** A handler that takes longer is answered "allowed" so the apiserver's own timeout never decides. Default 8 s. */
  readonly handlerTimeoutMs?: number;
  /** Times the handler's decision. */
  readonly clock: Clock;
}

/** AdmissionReviews are small; anything bigger is not one (the apiserver caps objects at about 3 MiB). */
const maxBodyBytes = 8 * 1024 * 1024;

/**
 * The HTTPS listener for every swell admission webhook. Any failure inside a handler (an exception, a timeout)
 * is answered "allowed" with a warning, the same outcome as failurePolicy Ignore: a broken webhook never blocks
 * users, and the controllers repair afterwards. Only a malformed request is refused, with 400.
 */
export class WebhookServer {
  private constructor(
    private readonly server: Server,
    private readonly options: WebhookServerOptions,
  ) {}

  static async start(options: WebhookServerOptions): Promise<WebhookServer> {
    const server = createServer({
      key: options.servingCertificate.privateKeyPem,
      cert: options.servingCertificate.certificatePem,
      minVersion: 'TLSv1.2',
      keepAliveTimeout: 65_000,
      headersTimeout: 15_000,
      requestTimeout: 30_000,
    });
    const instance = new WebhookServer(server, options);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void instance.serve(request, response));
    server.on('tlsClientError', (error) => options.log.debug({ err: error }, 'TLS handshake failed'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 9443, options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    options.log.info({ port: instance.port, paths: options.routes.map((r) => r.path) }, 'admission webhooks listening');
    return instance;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Swaps the certificate for new handshakes (renewal); open connections keep theirs. */
  setServingCertificate(keyPair: ServingKeyPair): void {
    this.server.setSecureContext({ key: keyPair.privateKeyPem, cert: keyPair.certificatePem, minVersion: 'TLSv1.2' });
  }

  async close(graceMs = 5_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (path === '/healthz' || path === '/readyz') return reply(response, 200, 'ok');
    const route = this.options.routes.find((r) => r.path === path);
    if (!route) return reply(response, 404, `no webhook at ${path}`);
    if (request.method !== 'POST') return reply(response, 405, 'admission reviews are POSTed');
    let admission;
    try {
      admission = parseAdmissionReview(parseJson(await readBody(request)));
    } catch (error) {
      return reply(response, 400, `not an AdmissionReview: ${(error as Error).message}`);
    }
    const verdict = await this.decide(route, admission.uid, () => route.handler(admission));
    const body = JSON.stringify(admissionResponse(admission.uid, verdict));
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  }

  private async decide(route: WebhookRoute, uid: string, run: () => Promise<AdmissionVerdict>): Promise<AdmissionVerdict> {
    const timeoutMs = this.options.handlerTimeoutMs ?? 8_000;
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.options.clock.setTimeout(() => reject(new Error(`no decision within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (error) {
      this.options.log.warn({ err: error, webhook: route.path, uid }, 'admission handler failed; allowing the request unchanged');
      const what = route.kind === 'mutating' ? 'left unchanged' : 'not validated';
      return { allowed: true, warnings: [`swell webhook ${route.path} failed, object ${what}: ${(error as Error).message}`] };
    } finally {
      timer?.cancel();
    }
  }
}

function reply(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new Error(`body larger than ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON.parse's own message quotes the body, which may hold anything the caller sent; this one does not. */
function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new Error('body is not JSON');
  }
}
