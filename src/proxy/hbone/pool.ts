/**
 * HBONE connection pool (istio/ztunnel src/proxy/pool.rs, "Pooling" in
 * istio/istio architecture/ambient/ztunnel.md).
 *
 * Invariants:
 * - A key is (source identity, sorted expected destination identities, source
 *   IP, destination address). Sessions are never shared across keys: the
 *   source certificate and the server identity check are part of the session.
 * - A session carries at most min(`maxStreamsPerConnection`, the peer's
 *   SETTINGS_MAX_CONCURRENT_STREAMS) open streams; when all sessions of a key
 *   are full, another session to the same key is opened.
 * - At most one dial per key is in flight. Callers that find no free slot
 *   while a dial runs wait for it and share its outcome (success or error), so
 *   a burst of connections causes one TLS handshake, and a broken peer one
 *   timeout rather than one per caller.
 * - A session that is closed, failed, told to GOAWAY or missed its PING is
 *   never handed out again; the next caller dials a replacement.
 * - A session without streams for `idleTimeoutMs` is closed (GOAWAY).
 */
import type { ClientHttp2Stream } from 'node:http2';
import type { DrainTask } from '../../core/drain.js';
import { AmbitError, isAmbitError } from '../../core/errors.js';
import type { SpiffeId } from '../../identity/index.js';
import { logger } from '../../telemetry/index.js';
import { formatAuthority } from './address.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type Dialer, openSession } from './client.js';
import { HboneErrors } from './errors.js';
import type { HboneCredentials } from './identity.js';
import type { HboneConnectRequest, HboneSession } from './session.js';
import type { HboneSettingsInput } from './settings.js';

const log = logger('hbone-pool');

/** Where a pooled tunnel goes, and as whom. */
export interface HbonePoolTarget {
  /** The SOURCE workload's credentials (its identity is part of the key). */
  credentials: HboneCredentials;
  /** Identities the server may present (destination workload + Service SANs, or the waypoint). */
  expectedIdentities: readonly SpiffeId[];
  /** The peer's HBONE address, normally `<pod IP>:15008`. */
  address: { host: string; port: number };
  /** Source IP (the pod IP in in-pod mode); part of the key. */
  sourceIp?: string;
  /** Dialer for this source (e.g. one that creates the socket in the pod netns). */
  dialer?: Dialer;
}

export interface HbonePoolOptions {
  /** Streams per session before another session is opened. Default 100 (`POOL_MAX_STREAMS_PER_CONNECTION`). */
  maxStreamsPerConnection?: number;
  /** Close sessions unused this long, ms. Default 300 000 (`POOL_UNUSED_RELEASE_TIMEOUT`). */
  idleTimeoutMs?: number;
  /** Session set-up deadline, ms. Default 10 000. */
  connectTimeoutMs?: number;
  settings?: HboneSettingsInput;
  /** Default dialer when a target has none. */
  dialer?: Dialer;
}

export interface HbonePoolStats {
  keys: number;
  sessions: number;
  activeStreams: number;
  /** Sessions dialed over the pool's life (each is one TLS handshake). */
  dials: number;
  dialFailures: number;
  byKey: {
    key: string;
    sessions: { activeStreams: number; totalStreams: number; usable: boolean }[];
  }[];
}

interface Entry {
  key: string;
  sessions: Set<HboneSession>;
  dialing: Promise<HboneSession> | undefined;
}

export const DEFAULT_MAX_STREAMS_PER_CONNECTION = 100;
export const DEFAULT_POOL_IDLE_TIMEOUT_MS = 5 * 60_000;

export class HbonePool {
  private readonly entries = new Map<string, Entry>();
  private readonly idleTimers = new Map<HboneSession, NodeJS.Timeout>();
  private readonly maxStreams: number;
  private readonly idleTimeoutMs: number;
  private draining = false;
  private dials = 0;
  private dialFailures = 0;

  constructor(private readonly options: HbonePoolOptions = {}) {
    this.maxStreams = Math.max(
      1,
      options.maxStreamsPerConnection ?? DEFAULT_MAX_STREAMS_PER_CONNECTION,
    );
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_POOL_IDLE_TIMEOUT_MS;
  }

  /** The pool key of a target (exposed for logs and tests). */
  static keyOf(target: HbonePoolTarget): string {
    return JSON.stringify([
      target.credentials.identity.uri,
      target.expectedIdentities.map((i) => i.uri).sort(),
      target.sourceIp ?? '',
      formatAuthority(target.address.host, target.address.port),
    ]);
  }

  /**
   * Opens a CONNECT tunnel to `request.authority` over a pooled session to
   * `target`. Resolves with the stream on 200. A request that failed because
   * its session was already going away is retried once on a fresh session.
   */
  async connect(target: HbonePoolTarget, request: HboneConnectRequest): Promise<ClientHttp2Stream> {
    for (let attempt = 0; ; attempt++) {
      const { session, pending } = await this.acquire(target, request);
      try {
        return await pending;
      } catch (err) {
        if (attempt === 0 && retriable(err)) {
          log.debug({ address: session.address }, 'retrying CONNECT on a fresh session');
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * Finds (or dials) a session with a free slot and opens the stream on it in
   * the same tick, so concurrent callers cannot all claim the last slot.
   */
  private async acquire(
    target: HbonePoolTarget,
    request: HboneConnectRequest,
  ): Promise<{ session: HboneSession; pending: Promise<ClientHttp2Stream> }> {
    const key = HbonePool.keyOf(target);
    for (;;) {
      if (this.draining) throw new AmbitError(HboneErrors.DRAINING, 'HBONE pool is draining');
      let entry = this.entries.get(key);
      if (!entry) {
        entry = { key, sessions: new Set(), dialing: undefined };
        this.entries.set(key, entry);
      }
      const free = this.freeSession(entry);
      if (free) {
        this.clearIdle(free);
        // `connect` counts the stream synchronously: the slot is taken now.
        return { session: free, pending: free.connect(request) };
      }
      if (!entry.dialing) {
        const e = entry;
        e.dialing = this.dial(e, target).finally(() => {
          e.dialing = undefined;
        });
      }
      // Waiters share the dial's outcome; on success they race for its slots.
      await entry.dialing;
    }
  }

  private freeSession(entry: Entry): HboneSession | undefined {
    for (const s of entry.sessions) {
      const capacity = Math.min(this.maxStreams, s.peerMaxConcurrentStreams);
      if (s.usable && s.activeStreams < capacity) return s;
    }
    return undefined;
  }

  private async dial(entry: Entry, target: HbonePoolTarget): Promise<HboneSession> {
    this.dials += 1;
    let session: HboneSession;
    try {
      session = await openSession({
        address: target.address,
        credentials: target.credentials,
        expectedIdentities: target.expectedIdentities,
        sourceIp: target.sourceIp,
        dialer: target.dialer ?? this.options.dialer,
        settings: this.options.settings,
        connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      });
    } catch (err) {
      this.dialFailures += 1;
      if (entry.sessions.size === 0 && this.entries.get(entry.key) === entry) {
        this.entries.delete(entry.key);
      }
      throw err;
    }
    entry.sessions.add(session);
    session.on('idle', () => this.armIdle(session));
    session.once('close', (err) => {
      this.clearIdle(session);
      entry.sessions.delete(session);
      if (entry.sessions.size === 0 && !entry.dialing && this.entries.get(entry.key) === entry) {
        this.entries.delete(entry.key);
      }
      log.debug({ address: session.address, err: err?.message }, 'pooled HBONE session closed');
    });
    // A dial whose callers all went elsewhere must not live forever.
    this.armIdle(session);
    if (this.draining) void session.close();
    return session;
  }

  private armIdle(session: HboneSession): void {
    this.clearIdle(session);
    const t = setTimeout(() => {
      this.idleTimers.delete(session);
      if (session.activeStreams === 0) void session.close();
    }, this.idleTimeoutMs);
    t.unref();
    this.idleTimers.set(session, t);
  }

  private clearIdle(session: HboneSession): void {
    const t = this.idleTimers.get(session);
    if (t) {
      clearTimeout(t);
      this.idleTimers.delete(session);
    }
  }

  stats(): HbonePoolStats {
    const byKey = [...this.entries.values()].map((e) => ({
      key: e.key,
      sessions: [...e.sessions].map((s) => ({
        activeStreams: s.activeStreams,
        totalStreams: s.totalStreams,
        usable: s.usable,
      })),
    }));
    const all = byKey.flatMap((k) => k.sessions);
    return {
      keys: byKey.filter((k) => k.sessions.length > 0).length,
      sessions: all.length,
      activeStreams: all.reduce((n, s) => n + s.activeStreams, 0),
      dials: this.dials,
      dialFailures: this.dialFailures,
      byKey,
    };
  }

  private allSessions(): HboneSession[] {
    return [...this.entries.values()].flatMap((e) => [...e.sessions]);
  }

  /**
   * Refuses new tunnels, sends GOAWAY on every session and lets open tunnels
   * finish; at the deadline the rest are destroyed. Resolves with the number
   * of sessions that had to be forced.
   */
  async drain(deadlineMs: number): Promise<{ forced: number }> {
    this.draining = true;
    const open = this.allSessions();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const r = await Promise.race([
      Promise.all(open.map((s) => s.close())).then(() => 'done' as const),
      deadline,
    ]);
    clearTimeout(timer);
    if (r === 'done') return { forced: 0 };
    const forced = open.filter((s) => !s.closed);
    for (const s of forced)
      s.destroy(new AmbitError(HboneErrors.DRAINING, 'HBONE pool drain deadline'));
    return { forced: forced.length };
  }

  /** For `Drain.register`: graceful = GOAWAY and wait for tunnels; force = destroy. */
  drainTask(name = 'hbone-pool'): DrainTask {
    return {
      name,
      graceful: async () => {
        this.draining = true;
        await Promise.all(this.allSessions().map((s) => s.close()));
      },
      force: () => this.close(),
    };
  }

  /** Destroys every session now. */
  close(): void {
    this.draining = true;
    for (const s of this.allSessions()) s.destroy();
  }
}

/** Failures where the server cannot have seen the request (safe to retry). */
function retriable(err: unknown): boolean {
  if (!isAmbitError(err)) return false;
  if (err.code === HboneErrors.SESSION_CLOSED) return true;
  if (err.code !== HboneErrors.STREAM_FAILED) return false;
  const REFUSED_STREAM = 7;
  if (err.details.rstCode === REFUSED_STREAM) return true;
  const cause = (err.cause as { code?: string } | undefined)?.code;
  return cause === 'ERR_HTTP2_GOAWAY_SESSION' || cause === 'ERR_HTTP2_INVALID_SESSION';
}
