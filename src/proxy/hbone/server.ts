/**
 * HBONE server: terminates mTLS + HTTP/2 on sockets accepted by any listener
 * (a test port, or port 15008 inside a pod's netns) and serves CONNECT
 * streams in ztunnel's order (istio/ztunnel src/proxy/inbound.rs):
 *
 *  1. non-CONNECT → 400; unparseable `:authority` → 400;
 *  2. authority IP ≠ the connection's local (original destination) IP → 400,
 *     unless `allowForeignAuthority` says yes (waypoints, app tunnels);
 *  3. target port is one of the proxy's own ports → 503 (ztunnel `SelfCall`);
 *  4. `onConnect` authorizes and connects upstream: it answers a status
 *     (401 deny, 503 upstream failure) or a connected upstream;
 *  5. only then 200, and bytes are relayed until both sides close.
 *
 * The server certificate is chosen by the socket's LOCAL IP, never SNI: the
 * client connects to the destination pod's IP and sends no SNI. One TLS
 * server object (secure context) per local identity is built and cached.
 */
import http2, {
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls';
import type { DrainTask } from '../../core/drain.js';
import { AmbitError, errorMessage } from '../../core/errors.js';
import type { SpiffeId } from '../../identity/index.js';
import { logger } from '../../telemetry/index.js';
import { abort, relay } from '../relay.js';
import { canonicalIp, parseAuthority, type SocketAddress } from './address.js';
import { HboneErrors } from './errors.js';
import { type HboneCredentials, verifyClientIdentity } from './identity.js';
import { startKeepalive } from './keepalive.js';
import type {
  AcceptedSocketMeta,
  HboneConnectContext,
  HboneConnectDecision,
  HboneServerOptions,
  HboneServerStats,
  HboneStreamInfo,
  HboneStreamOutcome,
} from './server-types.js';
import {
  DEFAULT_ILLEGAL_PORTS,
  HBONE_TLS,
  type HboneSettings,
  resolveHboneSettings,
  serverSessionOptions,
} from './settings.js';

const log = logger('hbone-server');

interface ConnInfo {
  peerIdentity: SpiffeId;
  localIdentity: SpiffeId;
  source: SocketAddress;
  destination: SocketAddress;
}

interface TlsEntry {
  server: TlsServer;
  /** The PEMs the secure context was built from, to notice rotation. */
  fingerprint: string;
}

/** Accepts HBONE on sockets handed to {@link HboneServer.handle}. */
export class HboneServer {
  private readonly settings: Readonly<HboneSettings>;
  private readonly h2: http2.Http2Server;
  private readonly tls = new Map<string, TlsEntry>();
  /** Accepted sockets in their TLS handshake, by TCP 4-tuple. */
  private readonly handshaking = new Map<string, ConnInfo>();
  private readonly conns = new WeakMap<Http2Session, ConnInfo>();
  private readonly sessions = new Set<Http2Session>();
  private readonly illegalPorts: ReadonlySet<number>;
  private pendingConn: ConnInfo | undefined;
  private draining = false;
  private nextId = 1;
  private readonly counters: HboneServerStats = {
    connections: 0,
    noCertificate: 0,
    tlsFailures: 0,
    identityFailures: 0,
    sessions: 0,
    activeSessions: 0,
    activeTunnels: 0,
    responses: {},
  };

  constructor(private readonly options: HboneServerOptions) {
    this.settings = resolveHboneSettings(options.settings);
    this.illegalPorts = options.illegalPorts ?? DEFAULT_ILLEGAL_PORTS;
    this.h2 = http2.createServer(serverSessionOptions(this.settings));
    this.h2.on('session', (s) => this.onSession(s));
    this.h2.on('stream', (stream, headers) => {
      void this.onStream(stream, headers);
    });
  }

  /** Serves HBONE on an accepted TCP socket. Never throws. */
  handle(socket: Socket, meta: AcceptedSocketMeta = {}): void {
    this.counters.connections += 1;
    socket.on('error', () => {}); // failures surface through the TLS layer
    if (this.draining) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const local = meta.destination ?? {
      ip: canonicalIp(socket.localAddress ?? ''),
      port: socket.localPort ?? 0,
    };
    let creds: HboneCredentials | undefined;
    try {
      creds = local.ip ? this.options.certificateFor(local.ip) : undefined;
    } catch (err) {
      log.warn({ localIp: local.ip, err: errorMessage(err) }, 'certificate lookup failed');
    }
    if (!creds) {
      this.counters.noCertificate += 1;
      log.warn(
        { code: HboneErrors.NO_CERTIFICATE, localIp: local.ip },
        'no certificate for the destination IP; closing HBONE connection',
      );
      socket.destroy();
      return;
    }
    const key = tupleKey(socket);
    this.handshaking.set(key, {
      localIdentity: creds.identity,
      // Filled in after the handshake.
      peerIdentity: creds.identity,
      source: { ip: canonicalIp(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 },
      destination: local,
    });
    socket.once('close', () => this.handshaking.delete(key));
    this.tlsServerFor(creds).emit('connection', socket);
  }

  /** One TLS server (one secure context) per local identity, updated on rotation. */
  private tlsServerFor(creds: HboneCredentials): TlsServer {
    const key = creds.identity.uri;
    const fingerprint = `${creds.certChainPem}\n${creds.rootsPem.join('\n')}`;
    const ctx = {
      cert: creds.certChainPem,
      key: creds.keyPem,
      ca: [...creds.rootsPem],
      minVersion: HBONE_TLS.minVersion,
      maxVersion: HBONE_TLS.maxVersion,
      ciphers: HBONE_TLS.ciphers,
    };
    const entry = this.tls.get(key);
    if (entry) {
      if (entry.fingerprint !== fingerprint) {
        entry.server.setSecureContext(ctx);
        entry.fingerprint = fingerprint;
      }
      return entry.server;
    }
    const server = createTlsServer({
      ...ctx,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [...HBONE_TLS.alpn],
      handshakeTimeout: this.options.handshakeTimeoutMs ?? 10_000,
    });
    server.on('secureConnection', (s) => this.onSecure(s));
    server.on('tlsClientError', (err, s) => {
      this.counters.tlsFailures += 1;
      log.debug({ err: errorMessage(err), peer: s.remoteAddress }, 'HBONE TLS handshake failed');
      s.destroy();
    });
    this.tls.set(key, { server, fingerprint });
    return server;
  }

  /** Chain verified by TLS; now the SPIFFE identity and trust domain, then HTTP/2. */
  private onSecure(tlsSocket: TLSSocket): void {
    const pending = this.handshaking.get(tupleKey(tlsSocket));
    this.handshaking.delete(tupleKey(tlsSocket));
    if (!pending || this.draining) {
      tlsSocket.destroy();
      return;
    }
    let peer: SpiffeId;
    try {
      if (tlsSocket.alpnProtocol !== 'h2') {
        throw new AmbitError(HboneErrors.H2_HANDSHAKE, 'client did not negotiate ALPN h2');
      }
      peer = verifyClientIdentity(tlsSocket, pending.localIdentity);
    } catch (err) {
      this.counters.identityFailures += 1;
      log.info(
        { code: (err as AmbitError).code, peer: pending.source, err: errorMessage(err) },
        'rejected HBONE client',
      );
      tlsSocket.destroy();
      return;
    }
    // `emit('connection')` creates the session and emits 'session' synchronously.
    this.pendingConn = { ...pending, peerIdentity: peer };
    try {
      this.h2.emit('connection', tlsSocket);
    } finally {
      this.pendingConn = undefined;
    }
  }

  private onSession(session: Http2Session): void {
    const info = this.pendingConn;
    if (!info) {
      session.destroy();
      return;
    }
    this.conns.set(session, info);
    this.sessions.add(session);
    this.counters.sessions += 1;
    this.counters.activeSessions += 1;
    session.setLocalWindowSize(this.settings.connectionWindowBytes);
    session.on('error', (err) => {
      log.debug({ peer: info.peerIdentity.uri, err: errorMessage(err) }, 'HBONE session error');
    });
    session.once('close', () => {
      this.sessions.delete(session);
      this.counters.activeSessions -= 1;
    });
    startKeepalive(session, this.settings.pingIntervalMs, this.settings.pingTimeoutMs, (reason) => {
      log.info({ peer: info.peerIdentity.uri, reason }, 'HBONE session dead; closing');
      session.destroy();
    });
  }

  private async onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const conn = this.conns.get(stream.session as Http2Session);
    if (!conn) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    stream.on('error', () => {}); // resets are reported through relay / outcome
    const authority = headers[':authority'];
    const info: HboneStreamInfo = { id: this.nextId++, ...conn, authority, headers };
    const reject = (status: number, reason: string): void =>
      this.reject(stream, info, status, reason);

    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== undefined) {
      return reject(400, `method ${headers[':method']} is not CONNECT`);
    }
    const target = parseAuthority(authority);
    if (!target || authority === undefined) return reject(400, `bad authority "${authority}"`);
    const ac = new AbortController();
    const onGone = (): void => ac.abort(new Error('client went away'));
    stream.once('close', onGone);
    const ctx: HboneConnectContext = { ...info, authority, target, signal: ac.signal };

    try {
      if (target.kind === 'ip' && target.ip !== conn.destination.ip) {
        const allowed = (await this.options.allowForeignAuthority?.(ctx)) ?? false;
        if (!allowed) {
          return reject(
            400,
            `authority IP ${target.ip} is not this destination ${conn.destination.ip}`,
          );
        }
      }
      // For hostname authorities the handler resolves the port and checks it.
      if (target.kind === 'ip' && this.illegalPorts.has(target.port)) {
        return reject(503, `port ${target.port} is one of the proxy's own ports`);
      }
      let decision: HboneConnectDecision;
      try {
        decision = await this.options.onConnect(ctx);
      } catch (err) {
        decision = { status: 503, reason: `upstream connect failed: ${errorMessage(err)}` };
      }
      if ('terminate' in decision) {
        if (stream.destroyed || stream.closed) {
          return this.report({ info, status: 499, reason: 'client went away before the response' });
        }
        stream.off('close', onGone);
        stream.respond(
          decision.baggage ? { ':status': 200, baggage: decision.baggage } : { ':status': 200 },
        );
        this.count(200);
        this.counters.activeTunnels += 1;
        try {
          const r = await decision.terminate(stream);
          this.report({ info, status: 200, relay: { reset: false, ...r } });
        } catch (err) {
          stream.destroy();
          this.report({
            info,
            status: 200,
            relay: { bytesSent: 0, bytesRecv: 0, reset: true, error: err as Error },
          });
        } finally {
          this.counters.activeTunnels -= 1;
        }
        return;
      }
      if (!('upstream' in decision)) {
        return reject(decision.status, decision.reason ?? `rejected with ${decision.status}`);
      }
      const { upstream } = decision;
      if (stream.destroyed || stream.closed) {
        abort(upstream);
        // 499 (nginx's "client closed request") is never sent; it only labels the outcome.
        return this.report({ info, status: 499, reason: 'client went away before the response' });
      }
      stream.off('close', onGone);
      stream.respond(
        decision.baggage ? { ':status': 200, baggage: decision.baggage } : { ':status': 200 },
      );
      this.count(200);
      this.counters.activeTunnels += 1;
      const result = await relay(stream, upstream, { counters: decision.counters });
      this.counters.activeTunnels -= 1;
      this.report({ info, status: 200, relay: result });
    } finally {
      stream.off('close', onGone);
    }
  }

  private reject(
    stream: ServerHttp2Stream,
    info: HboneStreamInfo,
    status: number,
    reason: string,
  ): void {
    log.debug(
      { id: info.id, peer: info.peerIdentity.uri, authority: info.authority, status, reason },
      'CONNECT rejected',
    );
    if (!stream.destroyed && !stream.headersSent) {
      // END_STREAM with the response; the client ends its side and the stream closes cleanly.
      stream.respond({ ':status': status }, { endStream: true });
      stream.resume();
    }
    this.count(status);
    this.report({ info, status, reason });
  }

  private count(status: number): void {
    this.counters.responses[status] = (this.counters.responses[status] ?? 0) + 1;
  }

  private report(outcome: HboneStreamOutcome): void {
    try {
      this.options.onStreamEnd?.(outcome);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'onStreamEnd hook threw');
    }
  }

  stats(): HboneServerStats {
    return { ...this.counters, responses: { ...this.counters.responses } };
  }

  /**
   * Stops taking connections, sends GOAWAY on every session and waits for open
   * tunnels to finish; at the deadline the rest are destroyed. Resolves with
   * the number of sessions that had to be forced.
   */
  async drain(deadlineMs: number): Promise<{ forced: number }> {
    const open = [...this.sessions];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const r = await Promise.race([this.closeGracefully().then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (r === 'done') return { forced: 0 };
    const forced = open.filter((s) => !s.destroyed);
    for (const s of forced) {
      s.destroy(new AmbitError(HboneErrors.DRAINING, 'HBONE server drain deadline'));
    }
    return { forced: forced.length };
  }

  /** Refuses new connections, sends GOAWAY everywhere, resolves when every session closed. */
  private async closeGracefully(): Promise<void> {
    this.draining = true;
    await Promise.all(
      [...this.sessions].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.once('close', () => resolve());
            s.close();
          }),
      ),
    );
  }

  /** For `Drain.register`: graceful = GOAWAY and wait for tunnels; force = destroy. */
  drainTask(name = 'hbone-server'): DrainTask {
    return {
      name,
      graceful: () => this.closeGracefully(),
      force: () => this.close(),
    };
  }

  /** Immediate close of everything. */
  close(): void {
    this.draining = true;
    for (const s of this.sessions) s.destroy();
    for (const { server } of this.tls.values()) server.close();
  }
}

function tupleKey(s: Socket): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}
