/**
 * One access-log line per connection, written when it ends, under component
 * `access`, with ztunnel's field names (istio/ztunnel src/proxy/metrics.rs
 * `access_log!`). Bytes are from the client's point of view and are not
 * flipped: `bytes_sent` went client → server, `bytes_recv` server → client.
 */
import { type Logger, logger } from '../telemetry/index.js';

export interface AccessLogEntry {
  direction: 'inbound' | 'outbound';
  'src.addr': string;
  'src.workload'?: string;
  'src.namespace'?: string;
  /** Only when the source was authenticated (mTLS) or is our own workload. */
  'src.identity'?: string;
  'src.cluster'?: string;
  'dst.addr'?: string;
  /** The CONNECT `:authority` when the connection was carried over HBONE. */
  'dst.hbone_addr'?: string;
  'dst.service'?: string;
  'dst.workload'?: string;
  'dst.namespace'?: string;
  'dst.identity'?: string;
  'dst.cluster'?: string;
  bytes_sent: number;
  bytes_recv: number;
  /** Wall time from accept to close, e.g. `12ms`. */
  duration: string;
  /** Why the connection failed or was closed, when it did not end normally. */
  error?: string;
  /** Istio response flag when not `-` (DENY, CONNECT, …). */
  response_flags?: string;
}

let accessLogger: Logger | undefined;

/** Writes the line: info for normal ends, warn for errors (both on by default). */
export function writeAccessLog(entry: AccessLogEntry): void {
  accessLogger ??= logger('access');
  const clean = Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
  if (entry.error === undefined) accessLogger.info(clean, 'connection complete');
  else accessLogger.warn(clean, 'connection failed');
}
