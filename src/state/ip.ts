/**
 * IP addresses as plain text (the domain form) and as bytes (the xDS form),
 * plus CIDR blocks. Text is canonical: IPv4 dotted quad, IPv6 per RFC 5952
 * (lowercase, longest zero run compressed). IPv4-mapped IPv6
 * (`::ffff:10.0.0.1`, what a dual-stack Node socket reports) is canonicalised
 * to IPv4 so lookups and policy matches see the same address either way.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Parses IP text to 4 or 16 bytes, or undefined if it is not an IP. Mapped v6 becomes 4 bytes. */
export function ipToBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) return undefined;
  const zone = text.indexOf('%');
  const t = zone === -1 ? text : text.slice(0, zone);
  const out = new Uint8Array(16);
  const [head = '', tail] = t.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const res: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const v4 = g.split('.').map(Number);
        res.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else res.push(Number.parseInt(g, 16));
    }
    return res;
  };
  const h = groups(head);
  const tl = tail === undefined ? [] : groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - tl.length).fill(0), ...tl];
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return isMapped(out) ? out.slice(12) : out;
}

function isMapped(b: Uint8Array): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Canonical text for 4 or 16 address bytes; undefined for any other length. */
export function bytesToIp(b: Uint8Array): string | undefined {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return undefined;
  if (isMapped(b)) return Array.from(b.slice(12)).join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  // Longest run of zero groups (length >= 2) is compressed, first one wins a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Canonical text of an IP, or undefined if `text` is not an IP. */
export function normalizeIp(text: string): string | undefined {
  const b = ipToBytes(text);
  return b === undefined ? undefined : bytesToIp(b);
}

/** `ip:port`, IPv6 in brackets (the `:authority` and log form). */
export function formatHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** A CIDR block. `contains` is false across address families. */
export class IpNet {
  private constructor(
    /** Network address bytes (host bits as given). */
    readonly bytes: Uint8Array,
    /** Prefix length in bits: 0..32 for IPv4, 0..128 for IPv6. */
    readonly prefixLength: number,
  ) {}

  /** From address bytes and a prefix length; undefined if either is invalid. */
  static fromBytes(bytes: Uint8Array, prefixLength: number): IpNet | undefined {
    const text = bytesToIp(bytes);
    if (text === undefined) return undefined;
    const b = ipToBytes(text) as Uint8Array;
    // A mapped v6 prefix shrinks to its v4 form.
    const len = b.length === bytes.length ? prefixLength : prefixLength - 96;
    if (!Number.isInteger(len) || len < 0 || len > b.length * 8) return undefined;
    return new IpNet(b, len);
  }

  /** Parses `10.0.0.0/8`, `fd00::/8`, or a bare IP (a /32 or /128). */
  static parse(text: string): IpNet | undefined {
    const slash = text.indexOf('/');
    const ip = slash === -1 ? text : text.slice(0, slash);
    const bytes = ipToBytes(ip);
    if (bytes === undefined) return undefined;
    if (slash === -1) return new IpNet(bytes, bytes.length * 8);
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return undefined;
    // A mapped v6 prefix (::ffff:10.0.0.0/104) shrinks to its v4 form.
    const len = Number(lenText) - (isIPv6(ip) && bytes.length === 4 ? 96 : 0);
    if (len < 0 || len > bytes.length * 8) return undefined;
    return new IpNet(bytes, len);
  }

  /** Whether the address (bytes from {@link ipToBytes}) is inside this block. */
  containsBytes(addr: Uint8Array): boolean {
    if (addr.length !== this.bytes.length) return false;
    let bits = this.prefixLength;
    for (let i = 0; bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if (((addr[i] ?? 0) & mask) !== ((this.bytes[i] ?? 0) & mask)) return false;
    }
    return true;
  }

  /** Whether the IP text is inside this block (false for non-IPs). */
  contains(ip: string): boolean {
    const b = ipToBytes(ip);
    return b !== undefined && this.containsBytes(b);
  }

  toString(): string {
    return `${bytesToIp(this.bytes)}/${this.prefixLength}`;
  }

  toJSON(): string {
    return this.toString();
  }
}
