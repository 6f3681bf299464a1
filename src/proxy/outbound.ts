/**
 * Outbound: a local app's connection (captured on 15001, or asked for over
 * SOCKS5) to its original destination. The routing decision comes from the
 * state (`route()`): HBONE to the destination pod or its waypoint with the
 * SOURCE workload's certificate, plain TCP to a workload outside the mesh,
 * or passthrough to an unknown address.
 *
 * A connection whose source workload (or its certificate) is not known yet
 * waits up to `workloadWaitTimeoutMs` instead of failing at once: a new pod
 * often sends traffic before the control plane has pushed it.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { AmbitError, errorMessage, isAmbitError } from '../core/errors.js';
import { formatHostPort, type HostPort, normalizeIp, type Workload } from '../state/index.js';
import { logger } from '../telemetry/index.js';
import { TlsErrors } from '../tls/index.js';
import { ConnectionResult, peerOf, serviceOf } from './connection-result.js';
import { deadline, type ProxyContext, within } from './context.js';
import { ProxyErrors } from './errors.js';
import {
  type Dialer,
  formatBaggage,
  formatForwarded,
  HboneErrors,
  newTraceparent,
  relay,
} from './hbone/index.js';
import type { ResponseFlag } from './metrics.js';
import { waitFor } from './workloads.js';

const log = logger('proxy');

/** Maps a failure to Istio's response flag. */
export function responseFlagFor(err: unknown): ResponseFlag {
  if (!isAmbitError(err)) return 'CONNECT';
  switch (err.code) {
    case ProxyErrors.DENIED:
      return 'DENY';
    case HboneErrors.CONNECT_REJECTED:
      return err.details.status === 401 ? 'DENY' : 'CONNECT';
    case HboneErrors.TLS_HANDSHAKE:
      return 'TLS_FAILURE';
    case HboneErrors.H2_HANDSHAKE:
      return 'H2_HANDSHAKE_FAILURE';
    case TlsErrors.PEER_IDENTITY_MISMATCH:
    case TlsErrors.PEER_IDENTITY_INVALID:
    case TlsErrors.TRUST_DOMAIN_MISMATCH:
    case ProxyErrors.CERT_UNAVAILABLE:
      return 'IDENTITY_ERROR';
    case HboneErrors.CONNECT_TIMEOUT:
      return err.details.phase === 'tcp' ? 'NETWORK_POLICY' : 'CONNECT';
    default:
      return 'CONNECT';
  }
}

export class Outbound {
  private readonly dialer: Dialer;

  constructor(private readonly ctx: ProxyContext) {
    this.dialer = (t) =>
      ctx.sockets.dial({
        host: t.host,
        port: t.port,
        localAddress: t.localAddress,
        signal: t.signal,
      });
  }

  /** A new outbound record for a downstream socket. */
  newResult(socket: Socket): ConnectionResult {
    const ip = normalizeIp(socket.remoteAddress ?? '') ?? '';
    return new ConnectionResult(
      this.ctx.metrics,
      'source',
      formatHostPort(ip, socket.remotePort ?? 0),
    );
  }

  /** Serves a socket accepted on the capture port (15001). Never throws. */
  handleCaptured(socket: Socket): void {
    socket.on('error', () => {});
    const dst = this.ctx.sockets.originalDst(socket);
    if (dst === undefined) {
      const result = this.newResult(socket);
      result.finish({
        error: new AmbitError(
          ProxyErrors.ORIGINAL_DST,
          `connection on the outbound capture port was not redirected (no original destination${this.ctx.sockets.supportsOriginalDst ? '' : '; native addon missing'})`,
        ),
      });
      socket.destroy();
      return;
    }
    void this.proxy(socket, dst);
  }

  /** Connects upstream, relays until both sides close, records the result. Never rejects. */
  async proxy(socket: Socket, dst: HostPort): Promise<void> {
    const result = this.newResult(socket);
    let upstream: Duplex;
    try {
      upstream = await this.connect(socket, dst, result);
    } catch (err) {
      result.finish({ error: err, responseFlags: responseFlagFor(err) });
      socket.resetAndDestroy();
      return;
    }
    await this.relay(socket, upstream, result);
  }

  /**
   * Routes and connects `downstream` → `dst`; resolves with the upstream
   * (an HBONE stream or a TCP socket). Throws coded errors; the caller
   * finishes `result`.
   */
  async connect(downstream: Socket, dst: HostPort, result: ConnectionResult): Promise<Duplex> {
    const { ctx } = this;
    const clientIp = normalizeIp(downstream.remoteAddress ?? '') ?? '';
    const source = await waitFor(
      ctx.updater,
      () => ctx.local.sourceFor(clientIp),
      ctx.tunables.workloadWaitTimeoutMs,
    );
    if (source === undefined) {
      throw new AmbitError(
        ProxyErrors.WORKLOAD_UNKNOWN,
        `timed out after ${ctx.tunables.workloadWaitTimeoutMs} ms waiting for the source workload of ${clientIp} in config`,
      );
    }
    result.source = peerOf(source, source.identity.uri);
    const decision = ctx.state.route(source, dst, {
      hbonePort: ctx.tunables.hbonePort,
      sourceIp: clientIp,
    });
    log.debug({ src: result.srcAddr, dst, kind: decision.kind }, 'outbound route');
    switch (decision.kind) {
      case 'error':
        result.service = serviceOf(decision.service);
        throw new AmbitError(ProxyErrors.NO_ROUTE, decision.message, {
          details: { reason: decision.reason },
        });
      case 'passthrough':
      case 'tcp': {
        result.service = serviceOf(decision.service);
        if (decision.kind === 'tcp') result.destination = peerOf(decision.workload);
        result.dstAddr = formatHostPort(decision.dial.ip, decision.dial.port);
        result.opened();
        return this.dialTcp(decision.dial);
      }
      case 'hbone':
      case 'waypoint': {
        const target = decision.kind === 'hbone' ? decision.workload : decision.waypoint;
        result.service = serviceOf(decision.service);
        result.destination = peerOf(target, decision.expectedIdentities[0]?.uri);
        result.mtls = true;
        result.dstAddr = formatHostPort(decision.dial.ip, decision.dial.port);
        result.hboneAddr = decision.authority;
        result.opened();
        const credentials = await within(
          ctx.certs.fetch(source.identity),
          ctx.tunables.workloadWaitTimeoutMs,
          () =>
            new AmbitError(
              ProxyErrors.CERT_UNAVAILABLE,
              `timed out after ${ctx.tunables.workloadWaitTimeoutMs} ms waiting for the certificate of ${source.identity.uri}`,
            ),
        ).catch((err: unknown) => {
          if (isAmbitError(err, ProxyErrors.CERT_UNAVAILABLE)) throw err;
          throw new AmbitError(
            ProxyErrors.CERT_UNAVAILABLE,
            `no certificate for ${source.identity.uri}: ${errorMessage(err)}`,
            { cause: err },
          );
        });
        return ctx.pool.connect(
          {
            credentials,
            expectedIdentities: decision.expectedIdentities,
            address: { host: decision.dial.ip, port: decision.dial.port },
            // From the pod's own IP when the app used it, so the peer can
            // tell workloads apart by source IP (as in-pod mode does).
            sourceIp: source.workloadIps.includes(clientIp) ? clientIp : undefined,
            dialer: this.dialer,
          },
          {
            authority: decision.authority,
            headers: {
              baggage: baggageOf(source, ctx.tunables.clusterId),
              forwarded: formatForwarded(
                { ip: clientIp, port: downstream.remotePort ?? 0 },
                decision.service?.hostname,
              ),
              traceparent: newTraceparent(),
            },
          },
        );
      }
    }
  }

  private async dialTcp(dial: HostPort): Promise<Socket> {
    const ms = this.ctx.tunables.connectTimeoutMs;
    const addr = formatHostPort(dial.ip, dial.port);
    const d = deadline(
      ms,
      () =>
        new AmbitError(
          ProxyErrors.UPSTREAM_CONNECT,
          `connection to ${addr} timed out after ${ms} ms`,
        ),
    );
    try {
      return await this.ctx.sockets.dial({ host: dial.ip, port: dial.port, signal: d.signal });
    } catch (err) {
      if (isAmbitError(err)) throw err;
      throw new AmbitError(
        ProxyErrors.UPSTREAM_CONNECT,
        `connection to ${addr} failed: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    } finally {
      d.clear();
    }
  }

  /** Relays until both sides close; tracked for drain; records the result. */
  async relay(downstream: Socket, upstream: Duplex, result: ConnectionResult): Promise<void> {
    const ac = new AbortController();
    const counters = { bytesSent: 0, bytesRecv: 0 };
    const release = this.ctx.connections.register({
      direction: 'outbound',
      description: `${result.srcAddr} -> ${result.hboneAddr ?? result.dstAddr ?? '?'}`,
      peers: () => result.peers(),
      counters,
      close: (reason) => ac.abort(reason),
    });
    try {
      const r = await relay(downstream, upstream, { signal: ac.signal, counters });
      result.finish({
        bytesSent: r.bytesSent,
        bytesRecv: r.bytesRecv,
        error: r.error,
        responseFlags: r.error === undefined ? '-' : responseFlagFor(r.error),
      });
    } finally {
      release();
      result.finish();
    }
  }
}

/** The `baggage` header ztunnel sends for the source workload. */
function baggageOf(w: Workload, clusterId: string): string {
  return formatBaggage({
    'k8s.cluster.name': w.clusterId || clusterId,
    'k8s.namespace.name': w.namespace,
    [`k8s.${w.workloadType}.name`]: w.workloadName || w.name,
    'service.name': w.canonicalName || w.workloadName || w.name,
    'service.version': w.canonicalRevision || 'latest',
    'cloud.region': w.locality.region,
    'cloud.availability_zone': w.locality.zone,
  });
}
