/**
 * The `:authority` of an HBONE CONNECT (ztunnel `HboneAddress`): `IP:port`
 * (IPv6 bracketed) for direct and waypoint traffic, `<fqdn>:port` for the
 * double-HBONE hops through an east-west gateway. Plus the small address
 * helpers both sides need.
 */
import { isIP } from 'node:net';

export type HboneTarget =
  | { kind: 'ip'; ip: string; port: number }
  | { kind: 'hostname'; hostname: string; port: number };

/** A socket address with a canonical IP (IPv4-mapped IPv6 unwrapped). */
export interface SocketAddress {
  ip: string;
  port: number;
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Parses an authority; undefined when it is not a valid `host:port`. */
export function parseAuthority(authority: string | undefined): HboneTarget | undefined {
  if (!authority) return undefined;
  let host: string;
  let portStr: string;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end === -1 || authority[end + 1] !== ':') return undefined;
    host = authority.slice(1, end);
    portStr = authority.slice(end + 2);
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = authority.slice(0, colon);
    portStr = authority.slice(colon + 1);
    // An unbracketed IPv6 address is ambiguous; RFC 3986 requires brackets.
    if (host.includes(':')) return undefined;
  }
  if (!/^\d{1,5}$/.test(portStr)) return undefined;
  const port = Number(portStr);
  if (port < 1 || port > 65_535) return undefined;
  if (isIP(host)) return { kind: 'ip', ip: canonicalIp(host), port };
  if (HOSTNAME_RE.test(host)) return { kind: 'hostname', hostname: host.toLowerCase(), port };
  return undefined;
}

/** `ip:port`, with IPv6 in brackets: the authority form ztunnel sends. */
export function formatAuthority(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Unwraps `::ffff:a.b.c.d` so IPv4 peers on dual-stack sockets compare equal. */
export function canonicalIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return m[1] as string;
  // WHATWG URL parsing prints IPv6 in RFC 5952 form (zeros compressed, lowercase).
  if (isIP(ip) === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return ip;
}

/** Same IP, ignoring representation (IPv4-mapped, case). */
export function sameIp(a: string, b: string): boolean {
  return canonicalIp(a) === canonicalIp(b);
}
