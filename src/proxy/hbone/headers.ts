/**
 * The metadata headers of an HBONE CONNECT, as ztunnel writes and reads them
 * (istio/ztunnel src/proxy/outbound.rs `create_hbone_request`, src/baggage.rs,
 * src/proxy.rs `TraceParent`, `parse_forwarded_host`). All are optional on the
 * wire; only `:authority` is required.
 */
import { randomBytes } from 'node:crypto';
import { formatAuthority, type SocketAddress } from './address.js';

/** Request headers the client may send with a CONNECT. */
export interface HboneRequestHeaders {
  /** `k8s.cluster.name=…,k8s.namespace.name=…,…` (see {@link formatBaggage}). */
  baggage?: string;
  /** `for="<client ip:port>"` plus `;host=<service hostname>` (see {@link formatForwarded}). */
  forwarded?: string;
  /** W3C `00-<trace id>-<parent id>-00`, random per connection (see {@link newTraceparent}). */
  traceparent?: string;
  /** Only on the inner CONNECT of double HBONE: the source's network. */
  'x-forwarded-network'?: string;
}

/** `for="ip:port"` and, when the target is a Service, `;host=<hostname>`. */
export function formatForwarded(client: SocketAddress, host?: string): string {
  const f = `for="${formatAuthority(client.ip, client.port)}"`;
  return host ? `${f};host=${host}` : f;
}

/** The `host=` of the first `forwarded` element, used by the receiver to pick the Service. */
export function parseForwardedHost(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const first = value.split(',')[0] ?? '';
  for (const pair of first.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim().toLowerCase() !== 'host') continue;
    const v = pair.slice(eq + 1).trim();
    const unq = v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
    return unq === '' ? undefined : unq;
  }
  return undefined;
}

/** A fresh W3C traceparent with random ids and flags 00, as ztunnel sends per connection. */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
}

/** Baggage keys ztunnel writes and reads. */
export type BaggageKey =
  | 'k8s.cluster.name'
  | 'k8s.namespace.name'
  | 'k8s.deployment.name'
  | 'k8s.cronjob.name'
  | 'k8s.pod.name'
  | 'k8s.job.name'
  | 'service.name'
  | 'service.version'
  | 'cloud.region'
  | 'cloud.availability_zone';

/** `k=v,k=v`, skipping empty values (ztunnel omits unknown fields). */
export function formatBaggage(fields: Partial<Record<BaggageKey, string | undefined>>): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Parses `k=v,k=v` (W3C baggage without properties); malformed members are skipped. */
export function parseBaggage(value: string | readonly string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined) return out;
  const joined = typeof value === 'string' ? value : value.join(',');
  for (const member of joined.split(',')) {
    const kv = member.split(';')[0] ?? '';
    const eq = kv.indexOf('=');
    if (eq <= 0) continue;
    const k = kv.slice(0, eq).trim();
    const v = kv.slice(eq + 1).trim();
    if (k && v) out.set(k, v);
  }
  return out;
}
