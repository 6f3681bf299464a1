import { isIP } from 'node:net';

/** IP text → network-order bytes (4 or 16), or undefined if not an IP. */
export function ipBytes(ip: string): Uint8Array | undefined {
  const family = isIP(ip);
  if (family === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (family !== 6) return undefined;
  let text = ip;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // IPv4-mapped/embedded tail ("::ffff:1.2.3.4").
    tail = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const fill = rest === undefined ? 0 : 8 - h.length - r.length;
  const all = [...h, ...Array<string>(fill).fill('0'), ...r];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** Parses "ip" or "ip/len" (invalid entries are skipped by callers, as Istio does). */
export function cidrBytes(text: string): { address: Uint8Array; length: number } | undefined {
  const [ip = '', len] = text.split('/');
  const address = ipBytes(ip);
  if (!address) return undefined;
  const max = address.length * 8;
  if (len === undefined) return { address, length: max };
  const n = Number(len);
  if (!Number.isInteger(n) || n < 0 || n > max) return undefined;
  return { address, length: n };
}
