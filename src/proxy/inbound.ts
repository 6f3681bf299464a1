/**
 * Inbound HBONE (15008): mTLS + HTTP/2 CONNECT terminated by `HboneServer`
 * (certificate chosen by the destination IP, protocol checks, 400/503 rules),
 * with ztunnel's inbound steps in `onConnect`
 * (istio/ztunnel src/proxy/inbound.rs):
 *
 *  1. the destination must be a local workload;
 *  2. L4 authorization against the policies that apply to it (deny → 401,
 *     `response_flags="DENY"`);
 *  3. connect to the app from inside the pod (dedicated: from here),
 *     optionally from the client's IP; failure → 503;
 *  4. the connection is tracked with its authorization inputs so a policy
 *     change can close it.
 */
import type { Socket } from 'node:net';
import { AmbitError, errorMessage } from '../core/errors.js';
import type { SpiffeId } from '../identity/index.js';
import { authorize, type Connection } from '../rbac/index.js';
import { formatHostPort, type Workload } from '../state/index.js';
import { logger } from '../telemetry/index.js';
import { ConnectionResult, peerOf, serviceOf } from './connection-result.js';
import { deadline, type ProxyContext } from './context.js';
import { ProxyErrors } from './errors.js';
import {
  DEFAULT_ILLEGAL_PORTS,
  type HboneConnectContext,
  type HboneConnectDecision,
  HboneServer,
  type HboneSettingsInput,
  type HboneStreamOutcome,
  parseBaggage,
  parseForwardedHost,
} from './hbone/index.js';
import type { PeerInfo } from './metrics.js';
import { abort } from './relay.js';
import { checkWaypointTraversal } from './waypoint-guard.js';

const log = logger('proxy');

interface Pending {
  result: ConnectionResult;
  closeReason?: Error;
}

/** Authorizes `conn` to `dst`; a denial becomes an AMBIT_PROXY_DENIED error. */
export function authorizeInbound(
  ctx: ProxyContext,
  conn: Connection,
  dst: Workload,
): AmbitError | undefined {
  const decision = authorize(conn, ctx.state.policiesFor(dst));
  for (const d of decision.dryRun) {
    if (d.wouldDeny)
      log.info({ policy: d.name, src: conn.srcIp, dst: dst.uid }, 'dry-run policy would deny');
  }
  if (decision.allowed) return undefined;
  return new AmbitError(ProxyErrors.DENIED, `connection denied: ${decision.reason}`, {
    details: { policy: decision.policy },
  });
}

/** Connects to a local app, from the client's IP when the platform allows it. */
export async function dialLocal(
  ctx: ProxyContext,
  target: { ip: string; port: number },
  clientIp: string,
  signal?: AbortSignal,
): Promise<Socket> {
  const ms = ctx.tunables.connectTimeoutMs;
  const addr = formatHostPort(target.ip, target.port);
  const d = deadline(
    ms,
    () =>
      new AmbitError(
        ProxyErrors.UPSTREAM_CONNECT,
        `connection to ${addr} timed out after ${ms} ms`,
      ),
    signal,
  );
  const spoof = ctx.tunables.enableOrigSrc && ctx.sockets.supportsOriginalDst;
  try {
    return await ctx.sockets.dial({
      host: target.ip,
      port: target.port,
      localAddress: spoof ? clientIp : undefined,
      transparent: spoof || undefined,
      signal: d.signal,
    });
  } catch (err) {
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

export class Inbound {
  readonly server: HboneServer;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly ctx: ProxyContext,
    options: { settings?: HboneSettingsInput; illegalPorts?: readonly number[] } = {},
  ) {
    this.server = new HboneServer({
      certificateFor: (ip) => {
        const w = ctx.local.byIp(ip);
        return w === undefined ? undefined : ctx.certs.current(w.identity);
      },
      onConnect: (c) => this.onConnect(c),
      onStreamEnd: (o) => this.onStreamEnd(o),
      illegalPorts: new Set([...DEFAULT_ILLEGAL_PORTS, ...(options.illegalPorts ?? [])]),
      settings: options.settings,
      handshakeTimeoutMs: ctx.tunables.connectTimeoutMs,
    });
  }

  /** Serves an accepted 15008 socket. Never throws. */
  handle(socket: Socket): void {
    const dst = this.ctx.sockets.originalDst(socket);
    this.server.handle(socket, dst === undefined ? {} : { destination: dst });
  }

  private sourcePeer(ip: string, peer: SpiffeId, baggage: string | string[] | undefined): PeerInfo {
    const found = this.ctx.state.workloads.findAddress('', ip);
    if (found?.identity.equals(peer)) return peerOf(found, peer.uri);
    // Not known by IP (another cluster, a gateway): trust baggage for labels only.
    const b = parseBaggage(baggage);
    const workload =
      b.get('k8s.deployment.name') ??
      b.get('k8s.pod.name') ??
      b.get('k8s.job.name') ??
      b.get('k8s.cronjob.name');
    return {
      workload,
      namespace: b.get('k8s.namespace.name') ?? peer.workload?.namespace,
      canonicalService: b.get('service.name'),
      canonicalRevision: b.get('service.version'),
      cluster: b.get('k8s.cluster.name'),
      principal: peer.uri,
    };
  }

  private newResult(c: HboneStreamOutcome['info']): ConnectionResult {
    const r = new ConnectionResult(
      this.ctx.metrics,
      'destination',
      formatHostPort(c.source.ip, c.source.port),
    );
    r.mtls = true;
    r.source = this.sourcePeer(c.source.ip, c.peerIdentity, c.headers.baggage);
    r.dstAddr = formatHostPort(c.destination.ip, c.destination.port);
    r.hboneAddr = c.authority;
    r.destination = { principal: c.localIdentity.uri };
    return r;
  }

  private async onConnect(c: HboneConnectContext): Promise<HboneConnectDecision> {
    const { ctx } = this;
    const entry: Pending = { result: this.newResult(c) };
    this.pending.set(c.id, entry);
    const { result } = entry;
    if (c.target.kind !== 'ip') {
      return {
        status: 400,
        reason: `hostname authority ${c.authority} is only accepted by waypoints`,
      };
    }
    const target = c.target;
    const dst = ctx.local.byIp(target.ip);
    if (dst === undefined) return { status: 503, reason: `no local workload at ${target.ip}` };
    result.destination = peerOf(dst, c.localIdentity.uri);
    const host = parseForwardedHost(headerValue(c.headers.forwarded));
    if (host !== undefined)
      result.service = serviceOf(ctx.state.services.findHostname(host, dst.namespace));
    result.opened();
    const conn: Connection = {
      srcIp: c.source.ip,
      srcIdentity: c.peerIdentity,
      dstIp: target.ip,
      dstPort: target.port,
      dstWorkload: dst,
    };
    if (ctx.tunables.waypointBypassPrevention) {
      const g = checkWaypointTraversal(ctx.state, dst, target.port, c.peerIdentity);
      if (!g.allowed) {
        const err = new AmbitError(ProxyErrors.WAYPOINT_BYPASS, `connection denied: ${g.reason}`);
        log.info({ code: err.code, src: c.source.ip, peer: c.peerIdentity.uri }, g.reason);
        entry.closeReason = err;
        return { status: 401, reason: err.message };
      }
    }
    const denied = authorizeInbound(ctx, conn, dst);
    if (denied !== undefined) {
      entry.closeReason = denied;
      return { status: 401, reason: denied.message };
    }
    let upstream: Socket;
    try {
      upstream = await dialLocal(ctx, target, c.source.ip, c.signal);
    } catch (err) {
      entry.closeReason = err as Error;
      return { status: 503, reason: errorMessage(err) };
    }
    upstream.on('error', () => {});
    const counters = { bytesSent: 0, bytesRecv: 0 };
    const release = ctx.connections.register({
      direction: 'inbound',
      description: `${result.srcAddr} -> ${formatHostPort(target.ip, target.port)}`,
      rbac: { ...conn, dstWorkloadUid: dst.uid },
      peers: () => result.peers(),
      counters,
      close: (reason) => {
        entry.closeReason ??= reason;
        abort(upstream);
      },
    });
    upstream.once('close', release);
    return { upstream, counters };
  }

  private onStreamEnd(o: HboneStreamOutcome): void {
    const entry = this.pending.get(o.info.id) ?? { result: this.newResult(o.info) };
    this.pending.delete(o.info.id);
    const { result } = entry;
    if (o.status === 200) {
      const error = entry.closeReason ?? o.relay?.error;
      result.finish({
        bytesSent: o.relay?.bytesSent,
        bytesRecv: o.relay?.bytesRecv,
        error,
        responseFlags: error === undefined ? '-' : 'CONNECT',
      });
      return;
    }
    const error =
      entry.closeReason ??
      new AmbitError(
        o.status === 401 ? ProxyErrors.DENIED : ProxyErrors.UPSTREAM_CONNECT,
        `HBONE CONNECT answered ${o.status}: ${o.reason ?? ''}`,
      );
    result.finish({ error, responseFlags: o.status === 401 ? 'DENY' : 'CONNECT' });
  }

  /** GOAWAY on every session; open tunnels get until the deadline. */
  drain(deadlineMs: number): Promise<{ forced: number }> {
    return this.server.drain(deadlineMs);
  }

  close(): void {
    this.server.close();
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
