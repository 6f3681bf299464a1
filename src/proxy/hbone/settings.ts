/**
 * HTTP/2 and TLS settings of HBONE, with Istio ztunnel's values as defaults
 * (istio/ztunnel src/config.rs, src/proxy/h2/{client,server}.rs).
 *
 * The windows matter for correctness, not only speed: Node's defaults (64 KiB
 * stream and connection windows) let one busy tunnel starve the others on a
 * shared session (ztunnel#1538) and cap bulk throughput. The connection window
 * cannot be set through SETTINGS (RFC 9113 §6.9.2), so it is raised with a
 * WINDOW_UPDATE via `session.setLocalWindowSize()` on every session.
 */
import type { ClientSessionOptions, ServerOptions, Settings } from 'node:http2';

const KIB = 1024;
const MIB = 1024 * KIB;

/** HBONE tunables. Every field is optional in {@link HboneSettingsInput}. */
export interface HboneSettings {
  /** Initial per-stream receive window, bytes. Default 4 MiB (`HTTP2_STREAM_WINDOW_SIZE`). */
  streamWindowBytes: number;
  /** Per-session receive window, bytes. Default 16 MiB (`HTTP2_CONNECTION_WINDOW_SIZE`). */
  connectionWindowBytes: number;
  /** Largest DATA frame we accept, bytes. Default 1 MiB (`HTTP2_FRAME_SIZE`). */
  maxFrameBytes: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE the client advertises, bytes. Default 16 KiB. */
  clientMaxHeaderListBytes: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE the server advertises, bytes. Default 64 KiB. */
  serverMaxHeaderListBytes: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS the server advertises. Default 200. */
  serverMaxConcurrentStreams: number;
  /** Interval between keepalive PINGs on a session, ms. Default 10 000. 0 disables. */
  pingIntervalMs: number;
  /** A PING unanswered for this long kills the session, ms. Default 20 000. */
  pingTimeoutMs: number;
  /**
   * Node's per-session memory cap (nghttp2 buffers plus queued writes), MiB.
   * Default 64: it must exceed the connection window, otherwise a session
   * whose readers are slow starts refusing new streams. Node's default is 10.
   */
  maxSessionMemoryMib: number;
}

export type HboneSettingsInput = Partial<HboneSettings>;

export const DEFAULT_HBONE_SETTINGS: Readonly<HboneSettings> = Object.freeze({
  streamWindowBytes: 4 * MIB,
  connectionWindowBytes: 16 * MIB,
  maxFrameBytes: 1 * MIB,
  clientMaxHeaderListBytes: 16 * KIB,
  serverMaxHeaderListBytes: 64 * KIB,
  serverMaxConcurrentStreams: 200,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 20_000,
  maxSessionMemoryMib: 64,
});

/** HTTP/2 limits (RFC 9113 §6.5.2): windows ≤ 2^31-1, frames 16 KiB..16 MiB-1. */
const MAX_WINDOW = 2 ** 31 - 1;
const MIN_FRAME = 16 * KIB;
const MAX_FRAME = 16 * MIB - 1;

/** Fills defaults and clamps values into what HTTP/2 allows. */
export function resolveHboneSettings(input: HboneSettingsInput = {}): Readonly<HboneSettings> {
  const s: HboneSettings = { ...DEFAULT_HBONE_SETTINGS };
  for (const [k, v] of Object.entries(input) as [keyof HboneSettings, number | undefined][]) {
    if (v !== undefined) s[k] = v;
  }
  s.streamWindowBytes = clamp(s.streamWindowBytes, 65_535, MAX_WINDOW);
  s.connectionWindowBytes = clamp(s.connectionWindowBytes, 65_535, MAX_WINDOW);
  s.maxFrameBytes = clamp(s.maxFrameBytes, MIN_FRAME, MAX_FRAME);
  s.serverMaxConcurrentStreams = clamp(s.serverMaxConcurrentStreams, 1, 2 ** 31 - 1);
  return Object.freeze(s);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.floor(v)));
}

function baseSettings(s: HboneSettings): Settings {
  return {
    enablePush: false,
    initialWindowSize: s.streamWindowBytes,
    maxFrameSize: s.maxFrameBytes,
  };
}

/** Options for `http2.connect` on the client side of a session. */
export function clientSessionOptions(s: HboneSettings): ClientSessionOptions {
  return {
    settings: { ...baseSettings(s), maxHeaderListSize: s.clientMaxHeaderListBytes },
    maxSessionMemory: s.maxSessionMemoryMib,
    // Only one PING of ours is outstanding at a time; leave room for the peer's.
    maxOutstandingPings: 4,
  };
}

/** Options for the server's `http2.createServer`. */
export function serverSessionOptions(s: HboneSettings): ServerOptions {
  return {
    settings: {
      ...baseSettings(s),
      maxHeaderListSize: s.serverMaxHeaderListBytes,
      maxConcurrentStreams: s.serverMaxConcurrentStreams,
    },
    maxSessionMemory: s.maxSessionMemoryMib,
    maxOutstandingPings: 4,
  };
}

/**
 * TLS parameters shared by both sides: TLS 1.3 only, ztunnel's two AES-GCM
 * suites, ALPN h2.
 */
export const HBONE_TLS = Object.freeze({
  minVersion: 'TLSv1.3' as const,
  maxVersion: 'TLSv1.3' as const,
  ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256',
  alpn: Object.freeze(['h2']),
});

/** The proxy's own ports; a tunnel to one of them would loop (ztunnel `illegal_ports`). */
export const HBONE_PORT = 15008;
export const DEFAULT_ILLEGAL_PORTS: ReadonlySet<number> = new Set([15001, 15006, 15008, 15080]);
