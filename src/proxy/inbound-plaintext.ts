/**
 * Inbound plaintext (15006): connections from outside the mesh, redirected
 * from every inbound port except 15008 (istio/ztunnel
 * src/proxy/inbound_passthrough.rs). They carry no identity, so policies see
 * an unauthenticated source: a PeerAuthentication STRICT policy (a DENY on
 * `notPrincipals: [presence]`) denies every one of them. A denied connection
 * is reset.
 */
import type { Socket } from 'node:net';
import { AmbitError } from '../core/errors.js';
import type { Connection } from '../rbac/index.js';
import { formatHostPort, normalizeIp } from '../state/index.js';
import { ConnectionResult, peerOf } from './connection-result.js';
import type { ProxyContext } from './context.js';
import { ProxyErrors } from './errors.js';
import { authorizeInbound, dialLocal } from './inbound.js';
import { relay } from './relay.js';

export class InboundPlaintext {
  constructor(private readonly ctx: ProxyContext) {}

  /** Serves an accepted 15006 socket. Never throws. */
  handle(socket: Socket): void {
    socket.on('error', () => {});
    void this.serve(socket);
  }

  private async serve(socket: Socket): Promise<void> {
    const { ctx } = this;
    const srcIp = normalizeIp(socket.remoteAddress ?? '') ?? '';
    const result = new ConnectionResult(
      ctx.metrics,
      'destination',
      formatHostPort(srcIp, socket.remotePort ?? 0),
    );
    const source = ctx.state.workloads.findAddress('', srcIp);
    // Labels only: without mTLS there is no principal.
    result.source = peerOf(source);
    const fail = (error: AmbitError, denied = false): void => {
      result.finish({ error, responseFlags: denied ? 'DENY' : 'CONNECT' });
      socket.resetAndDestroy();
    };
    const dst = ctx.sockets.originalDst(socket);
    if (dst === undefined) {
      fail(
        new AmbitError(
          ProxyErrors.ORIGINAL_DST,
          'connection on the inbound plaintext port was not redirected (no original destination)',
        ),
      );
      return;
    }
    result.dstAddr = formatHostPort(dst.ip, dst.port);
    const workload = ctx.local.byIp(dst.ip);
    if (workload === undefined) {
      fail(new AmbitError(ProxyErrors.NO_ROUTE, `no local workload at ${dst.ip}`));
      return;
    }
    result.destination = peerOf(workload, workload.identity.uri);
    result.opened();
    const conn: Connection = { srcIp, dstIp: dst.ip, dstPort: dst.port, dstWorkload: workload };
    const denied = authorizeInbound(ctx, conn, workload);
    if (denied !== undefined) {
      fail(denied, true);
      return;
    }
    let upstream: Socket;
    try {
      upstream = await dialLocal(ctx, dst, srcIp);
    } catch (err) {
      fail(err as AmbitError);
      return;
    }
    const ac = new AbortController();
    const counters = { bytesSent: 0, bytesRecv: 0 };
    const release = ctx.connections.register({
      direction: 'inbound',
      description: `${result.srcAddr} -> ${result.dstAddr}`,
      rbac: { ...conn, dstWorkloadUid: workload.uid },
      peers: () => result.peers(),
      counters,
      close: (reason) => ac.abort(reason),
    });
    try {
      const r = await relay(socket, upstream, { signal: ac.signal, counters });
      result.finish({
        bytesSent: r.bytesSent,
        bytesRecv: r.bytesRecv,
        error: r.error,
        responseFlags: r.error === undefined ? '-' : 'CONNECT',
      });
    } finally {
      release();
      result.finish();
    }
  }
}
