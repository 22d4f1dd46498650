import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { DetailedPeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { commonNameOf, type DistinctHeaders, type PeerCertificateVerdict } from './front-proxy.js';
import type { MetricsHandler, MetricsRequest, MetricsResponse } from './handler.js';

/** A serving key pair, PEM. */
export interface ServingKeyPair {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export interface MetricsApiServerOptions {
  readonly handler: MetricsHandler;
  readonly servingCertificate: ServingKeyPair;
  /** The front-proxy CA (requestheader-client-ca-file) client certificates are verified against; see setClientCa. */
  readonly clientCaPem?: string;
  readonly log: Logger;
  /** Default 0.0.0.0 (every interface, as in a pod); local runs pass 127.0.0.1. */
  readonly host?: string;
  /** Default 6443; 0 picks a free port. */
  readonly port?: number;
}

/**
 * The HTTPS listener of external.metrics.k8s.io. It asks every client for a certificate and has TLS verify it
 * against the front-proxy CA, but lets every client in, so that health checks work without one; the handler
 * decides what a certificate (or its absence, or TLS's verdict on it) allows.
 */
export class MetricsApiServer {
  private closing = false;

  private constructor(
    private readonly server: Server,
    private readonly log: Logger,
    private servingKeyPair: ServingKeyPair,
    private clientCaPem: string | undefined,
  ) {}

  static async start(options: MetricsApiServerOptions): Promise<MetricsApiServer> {
    const server = createServer({
      ...secureContextOptions(options.servingCertificate, options.clientCaPem),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      // Longer than the idle timeout of Go's HTTP transport in the aggregator would be wasteful; shorter makes
      // it reconnect (and redo the TLS handshake) all the time.
      keepAliveTimeout: 65_000,
      headersTimeout: 30_000,
      requestTimeout: 60_000,
    });
    const instance = new MetricsApiServer(server, options.log, options.servingCertificate, options.clientCaPem);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => instance.serve(options.handler, request, response));
    server.on('tlsClientError', (error) => options.log.debug({ err: error }, 'TLS handshake failed'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 6443, options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    options.log.info({ port: instance.port, host: options.host ?? '0.0.0.0' }, 'external metrics API listening');
    return instance;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Swaps the serving certificate for new handshakes; open connections keep theirs and are not dropped. */
  setServingCertificate(keyPair: ServingKeyPair): void {
    this.servingKeyPair = keyPair;
    this.server.setSecureContext(secureContextOptions(keyPair, this.clientCaPem));
    this.log.info('serving certificate reloaded');
  }

  /**
   * Verifies client certificates of new connections against another front-proxy CA. Idle kept-alive connections
   * are closed, so that their clients come back and are verified against it; a busy one is judged per request
   * (see judgeClientCertificate) and keeps the verdict TLS gave it.
   */
  setClientCa(clientCaPem: string): void {
    if (clientCaPem === this.clientCaPem) return;
    this.clientCaPem = clientCaPem;
    this.server.setSecureContext(secureContextOptions(this.servingKeyPair, clientCaPem));
    this.server.closeIdleConnections();
    this.log.info('front-proxy CA reloaded');
  }

  /** Stops accepting connections, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  async close(graceMs = 5_000): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private serve(handler: MetricsHandler, request: IncomingMessage, response: ServerResponse): void {
    handler(new ServerRequest(request, response)).then(
      (result) => write(response, result, request.method === 'HEAD', this.closing),
      (error: unknown) => {
        this.log.error({ err: error }, 'request handler failed');
        write(response, { status: 500, text: 'internal error' }, false, this.closing);
      },
    );
  }
}

/**
 * One request as the handler sees it. The abort signal is made on first use: a cached metric is answered
 * without it, and an AbortController plus a close listener on every request cost more than the rest of the
 * answer.
 */
class ServerRequest implements MetricsRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: DistinctHeaders;
  readonly connection: TLSSocket;
  private aborted: AbortController | undefined;

  constructor(
    request: IncomingMessage,
    private readonly response: ServerResponse,
  ) {
    this.method = request.method ?? 'GET';
    this.url = request.url ?? '/';
    this.headers = request.headersDistinct;
    this.connection = request.socket as TLSSocket;
  }

  get signal(): AbortSignal {
    if (this.aborted) return this.aborted.signal;
    const controller = new AbortController();
    this.aborted = controller;
    const gone = () => {
      if (!this.response.writableFinished) controller.abort(new Error('client disconnected'));
    };
    if (this.response.destroyed || this.connection.destroyed) gone();
    else this.response.once('close', gone);
    return controller.signal;
  }

  peerCertificate(): PeerCertificateVerdict {
    return peerVerdict(this.connection);
  }
}

/** Writes a response; while closing, asks the client to drop the connection so shutdown need not wait for it. */
function write(response: ServerResponse, result: MetricsResponse, headOnly: boolean, closing: boolean): void {
  if ('stream' in result) return writeStream(response, result, headOnly, closing);
  if (response.destroyed) return;
  const body = 'jsonText' in result ? result.jsonText : 'json' in result ? JSON.stringify(result.json) : result.text;
  const contentType = 'text' in result ? 'text/plain; charset=utf-8' : 'application/json';
  response.shouldKeepAlive = response.shouldKeepAlive && !closing;
  response.writeHead(result.status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, private' });
  response.end(headOnly ? undefined : body);
}

/**
 * Streams a body from another server on as it arrives. A body that breaks off midway cuts the connection, so
 * the client sees a truncated answer as an error rather than as a short one.
 */
function writeStream(response: ServerResponse, result: Extract<MetricsResponse, { stream: unknown }>, headOnly: boolean, closing: boolean): void {
  if (response.destroyed || headOnly) {
    result.stream.destroy();
    if (!response.destroyed) response.writeHead(result.status, { 'content-type': result.contentType, 'cache-control': 'no-cache, private' }).end();
    return;
  }
  response.shouldKeepAlive = response.shouldKeepAlive && !closing;
  response.writeHead(result.status, { 'content-type': result.contentType, 'cache-control': 'no-cache, private' });
  pipeline(result.stream, response).catch(() => response.destroy());
}

function secureContextOptions(keyPair: ServingKeyPair, clientCaPem: string | undefined): SecureContextOptions {
  // Without a front-proxy CA TLS would verify against its default roots; judgeClientCertificate refuses those.
  return { key: keyPair.privateKeyPem, cert: keyPair.certificatePem, minVersion: 'TLSv1.2', ...(clientCaPem ? { ca: clientCaPem } : {}) };
}

/** TLS's verdict on the client's certificate, plus what the handler checks per request: name, expiry, anchor. */
function peerVerdict(socket: TLSSocket): PeerCertificateVerdict {
  const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  if (!leaf?.raw) return { presented: false, authorized: false, commonName: '', validUntil: 0 };
  let validUntil = Infinity;
  let anchor: string | undefined;
  const seen = new Set<DetailedPeerCertificate>();
  // The chain as TLS completed it from its CA store: the last certificate is the CA it was verified up to.
  for (let current: DetailedPeerCertificate | undefined = leaf; current?.raw && !seen.has(current) && seen.size < 10; current = current.issuerCertificate) {
    seen.add(current);
    validUntil = Math.min(validUntil, Date.parse(current.valid_to));
    anchor = current.fingerprint256;
  }
  const error = socket.authorizationError as Error | string | null | undefined;
  return {
    presented: true,
    authorized: socket.authorized,
    ...(error ? { authorizationError: typeof error === 'string' ? error : ((error as NodeJS.ErrnoException).code ?? error.message) } : {}),
    commonName: commonNameOf(new X509Certificate(leaf.raw)),
    validUntil,
    ...(anchor ? { anchor } : {}),
  };
}
