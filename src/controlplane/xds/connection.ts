/**
 * One connected proxy: its delta ADS stream, per-type subscriptions, the
 * send pump and ACK/NACK bookkeeping.
 *
 * Backpressure: one response is in flight at a time; the next is built only
 * when the previous one was handed to HTTP/2. Pending work is a set of
 * names resolved at build time (see subscription.ts), so a slow client's
 * memory is bounded by the resources it is owed, never by the number of
 * pushes it missed.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest } from '../../gen/envoy/discovery/discovery_pb.js';
import { type NodeId, type NodeMetadata, nodeMetadata, parseNodeId } from '../../xds/index.js';
import type { Caller } from './auth.js';
import type { ResourceCache } from './cache.js';
import { encodeResponse } from './encode.js';
import { Subscription } from './subscription.js';

/** Outstanding (un-ACKed) responses remembered per connection. */
const MAX_OUTSTANDING = 64;

export interface AckEvent {
  connection: ProxyConnection;
  typeUrl: string;
  nonce: string;
  /** True for a NACK. */
  nack: boolean;
  /** NACK error_detail. */
  error?: { code: number; message: string };
  /** performance.now() ms when the response was sent. */
  sentAt: number;
  /** performance.now() ms of the oldest cache change it carried, if any. */
  changeAt: number | undefined;
  /** performance.now() ms when the ACK arrived. */
  at: number;
}

export interface SentEvent {
  typeUrl: string;
  bytes: number;
  resources: number;
  removed: number;
  changeAt: number | undefined;
}

export interface ConnectionHooks {
  nonce(): string;
  systemVersion(): string;
  maxResponseBytes: number;
  onSent(conn: ProxyConnection, e: SentEvent): void;
  onAck(e: AckEvent): void;
}

interface TypeStatus {
  lastSent?: { nonce: string; at: Date; resources: number; removed: number };
  lastAck?: { nonce: string; at: Date };
  lastNack?: { nonce: string; at: Date; code: number; message: string };
  nacks: number;
}

/** The debug view of one proxy (`/debug/connections`). */
export interface ConnectionStatus {
  id: string;
  nodeId: string;
  node: NodeId | undefined;
  metadata: Pick<NodeMetadata, 'NAME' | 'NAMESPACE' | 'NODE_NAME' | 'CLUSTER_ID'>;
  caller: string;
  peer: string;
  connectedAt: string;
  types: Record<
    string,
    {
      wildcard: boolean;
      names: string[];
      resources: number;
      syncing: boolean;
      state: 'PENDING' | 'ACKED' | 'NACKED';
      lastSent?: { nonce: string; at: string; resources: number; removed: number };
      lastAck?: { nonce: string; at: string };
      lastNack?: { nonce: string; at: string; code: number; message: string };
      nacks: number;
    }
  >;
}

export class ProxyConnection {
  readonly connectedAt = new Date();
  nodeId = '';
  node: NodeId | undefined;
  metadata: NodeMetadata = {};
  private readonly subs = new Map<string, Subscription>();
  private readonly types = new Map<string, TypeStatus>();
  private readonly outstanding = new Map<
    string,
    { typeUrl: string; sentAt: number; changeAt: number | undefined }
  >();
  private pumping = false;
  private rr = 0;
  closed = false;

  constructor(
    readonly id: string,
    readonly caller: Caller,
    readonly peer: string,
    private readonly call: ServerDuplexStream<DeltaDiscoveryRequest, Buffer>,
    private readonly cache: ResourceCache,
    private readonly hooks: ConnectionHooks,
  ) {}

  /** Handles one request; returns an error message for a protocol violation. */
  handle(req: DeltaDiscoveryRequest): string | undefined {
    if (this.nodeId === '') {
      if (!req.node || req.node.id === '') return 'the first request must carry node.id';
      this.nodeId = req.node.id;
      try {
        this.node = parseNodeId(req.node.id);
      } catch {
        // Non-Istio node ids are allowed; they just have no parsed view.
        this.node = undefined;
      }
      this.metadata = nodeMetadata(req.node.metadata);
    }
    if (req.typeUrl === '') return 'type_url is required';
    if (req.responseNonce !== '') this.ackOrNack(req);
    let sub = this.subs.get(req.typeUrl);
    if (!sub) {
      sub = new Subscription(req.typeUrl, this.cache);
      this.subs.set(req.typeUrl, sub);
      this.types.set(req.typeUrl, { nacks: 0 });
      sub.start(
        req.resourceNamesSubscribe,
        req.resourceNamesUnsubscribe,
        req.initialResourceVersions,
      );
    } else {
      sub.update(req.resourceNamesSubscribe, req.resourceNamesUnsubscribe);
    }
    this.pump();
    return undefined;
  }

  private ackOrNack(req: DeltaDiscoveryRequest): void {
    const sent = this.outstanding.get(req.responseNonce);
    const st = this.types.get(req.typeUrl);
    // A nonce we never sent on this stream (or forgot) is stale: ignore it.
    if (!sent || !st || sent.typeUrl !== req.typeUrl) return;
    // Responses are ACKed in order; everything before this one is settled too.
    for (const k of this.outstanding.keys()) {
      this.outstanding.delete(k);
      if (k === req.responseNonce) break;
    }
    const at = performance.now();
    const err = req.errorDetail;
    const nack = err !== undefined && (err.code !== 0 || err.message !== '');
    if (nack) {
      st.nacks++;
      st.lastNack = {
        nonce: req.responseNonce,
        at: new Date(),
        code: err.code,
        message: err.message,
      };
    } else {
      st.lastAck = { nonce: req.responseNonce, at: new Date() };
    }
    const e: AckEvent = {
      connection: this,
      typeUrl: req.typeUrl,
      nonce: req.responseNonce,
      nack,
      sentAt: sent.sentAt,
      changeAt: sent.changeAt,
      at,
    };
    if (nack) e.error = { code: err.code, message: err.message };
    this.hooks.onAck(e);
  }

  /** Queues one debounced cache change for this client. */
  onChange(typeUrl: string, names: readonly string[], set: () => ReadonlySet<string>, at: number) {
    const sub = this.subs.get(typeUrl);
    if (!sub) return;
    sub.onChange(names, set, at);
    this.pump();
  }

  /** Sends whatever is owed, one response at a time. */
  pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    void this.run().finally(() => {
      this.pumping = false;
      // Work queued between the last build and now would otherwise wait for the next change.
      if (!this.closed && [...this.subs.values()].some((s) => s.hasWork())) this.pump();
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const subs = [...this.subs.values()];
      let sent = false;
      for (let i = 0; i < subs.length && !sent; i++) {
        const sub = subs[(this.rr + i) % subs.length] as Subscription;
        const chunk = sub.next(this.hooks.maxResponseBytes);
        if (!chunk) continue;
        this.rr = (this.rr + i + 1) % subs.length;
        const nonce = this.hooks.nonce();
        const buf = encodeResponse({
          typeUrl: sub.typeUrl,
          nonce,
          systemVersion: this.hooks.systemVersion(),
          resources: chunk.resources,
          removed: chunk.removed,
        });
        this.remember(nonce, sub.typeUrl, chunk.changeAt);
        const st = this.types.get(sub.typeUrl);
        if (st) {
          st.lastSent = {
            nonce,
            at: new Date(),
            resources: chunk.resources.length,
            removed: chunk.removed.length,
          };
        }
        this.hooks.onSent(this, {
          typeUrl: sub.typeUrl,
          bytes: buf.length,
          resources: chunk.resources.length,
          removed: chunk.removed.length,
          changeAt: chunk.changeAt,
        });
        if (!(await this.write(buf))) {
          this.closed = true;
          return;
        }
        sent = true;
      }
      if (!sent) return;
    }
  }

  private remember(nonce: string, typeUrl: string, changeAt: number | undefined): void {
    this.outstanding.set(nonce, { typeUrl, sentAt: performance.now(), changeAt });
    if (this.outstanding.size > MAX_OUTSTANDING) {
      const oldest = this.outstanding.keys().next().value;
      if (oldest !== undefined) this.outstanding.delete(oldest);
    }
  }

  private write(buf: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        this.call.write(buf, (err: Error | null | undefined) => resolve(!err && !this.closed));
      } catch {
        resolve(false);
      }
    });
  }

  /** Ends the stream with OK (drain) — the client reconnects, to us or a peer. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.call.end();
    } catch {
      // already gone
    }
  }

  status(): ConnectionStatus {
    const types: ConnectionStatus['types'] = {};
    for (const [typeUrl, sub] of this.subs) {
      const st = this.types.get(typeUrl) ?? { nacks: 0 };
      const lastAckNonce = st.lastAck?.nonce;
      const lastNackNonce = st.lastNack?.nonce;
      const state =
        st.lastSent === undefined ||
        (st.lastSent.nonce !== lastAckNonce && st.lastSent.nonce !== lastNackNonce)
          ? 'PENDING'
          : st.lastSent.nonce === lastNackNonce
            ? 'NACKED'
            : 'ACKED';
      const t: ConnectionStatus['types'][string] = {
        wildcard: sub.wildcard,
        names: [...sub.names].slice(0, 100),
        resources: sub.held(),
        syncing: sub.syncing,
        state,
        nacks: st.nacks,
      };
      if (st.lastSent) t.lastSent = { ...st.lastSent, at: st.lastSent.at.toISOString() };
      if (st.lastAck) t.lastAck = { ...st.lastAck, at: st.lastAck.at.toISOString() };
      if (st.lastNack) t.lastNack = { ...st.lastNack, at: st.lastNack.at.toISOString() };
      types[typeUrl] = t;
    }
    const m = this.metadata;
    const metadata: ConnectionStatus['metadata'] = {};
    for (const k of ['NAME', 'NAMESPACE', 'NODE_NAME', 'CLUSTER_ID'] as const) {
      const v = m[k];
      if (typeof v === 'string') metadata[k] = v;
    }
    return {
      id: this.id,
      nodeId: this.nodeId,
      node: this.node,
      metadata,
      caller: this.caller.identity,
      peer: this.peer,
      connectedAt: this.connectedAt.toISOString(),
      types,
    };
  }
}
