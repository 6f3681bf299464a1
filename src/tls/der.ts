/**
 * A minimal DER reader and writer, just enough for X.509 certificates and
 * PKCS#10 requests. The CA builds certificates from byte templates with it
 * instead of a general ASN.1 library, which keeps signing at thousands of
 * certificates per second (an ASN.1 object model costs milliseconds each).
 *
 * The reader is strict DER: single-byte tags only, definite minimal lengths,
 * and every parent must be consumed exactly by its children.
 */

/** Thrown by the reader on malformed input; callers turn it into a coded AmbitError. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

/** One decoded tag-length-value: offsets into the buffer it was read from. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated DER header');
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let len = buf[offset + 1] as number;
  let contentStart = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4) throw new DerError('DER length too large');
    if (contentStart + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[contentStart + i] as number);
    if (len < 0x80 || (n > 1 && buf[contentStart] === 0)) throw new DerError('non-minimal length');
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) throw new DerError('DER content runs past its container');
  return { tag, start: offset, contentStart, end };
}

/** Reads a whole buffer as exactly one TLV. */
export function readRoot(buf: Uint8Array, tag?: number): Tlv {
  const t = readTlv(buf, 0);
  if (t.end !== buf.length) throw new DerError('trailing bytes after DER value');
  if (tag !== undefined) expectTag(t, tag);
  return t;
}

/** The children of a constructed value; they must fill it exactly. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw new DerError('value is not constructed');
  const out: Tlv[] = [];
  let off = parent.contentStart;
  while (off < parent.end) {
    const t = readTlv(buf, off, parent.end);
    out.push(t);
    off = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number): Tlv {
  if (t === undefined) throw new DerError(`missing DER value (tag 0x${tag.toString(16)})`);
  if (t.tag !== tag) {
    throw new DerError(`unexpected DER tag 0x${t.tag.toString(16)}, want 0x${tag.toString(16)}`);
  }
  return t;
}

export function contentOf(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.contentStart, t.end - t.contentStart);
}

/** The whole TLV (header and content) as a view. */
export function rawOf(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.start, t.end - t.start);
}

export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  if ((bytes[bytes.length - 1] as number) & 0x80) throw new DerError('truncated OID');
  return parts.join('.');
}

export function decodeBoolean(bytes: Uint8Array): boolean {
  if (bytes.length !== 1) throw new DerError('BOOLEAN must be one byte');
  return bytes[0] !== 0;
}

export function decodeTime(buf: Uint8Array, t: Tlv): Date {
  const s = contentOf(buf, t).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === Tag.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
    if (!m) throw new DerError(`bad UTCTime "${s}"`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === Tag.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
    if (!m) throw new DerError(`bad GeneralizedTime "${s}"`);
    year = Number(m[1]);
  } else {
    throw new DerError('expected a time value');
  }
  return new Date(
    Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])),
  );
}

/** The set bit positions of a BIT STRING (bit 0 = most significant bit of the first byte). */
export function decodeNamedBits(bytes: Uint8Array): Set<number> {
  if (bytes.length === 0) throw new DerError('empty BIT STRING');
  const out = new Set<number>();
  for (let i = 1; i < bytes.length; i++) {
    const b = bytes[i] as number;
    for (let j = 0; j < 8; j++) if (b & (0x80 >> j)) out.add((i - 1) * 8 + j);
  }
  return out;
}

// ---- writer ---------------------------------------------------------------

function lengthBytes(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...parts: readonly Uint8Array[]): Buffer {
  const content = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export const seq = (...parts: readonly Uint8Array[]): Buffer => tlv(Tag.SEQUENCE, ...parts);
export const set = (...parts: readonly Uint8Array[]): Buffer => tlv(Tag.SET, ...parts);
export const octets = (b: Uint8Array): Buffer => tlv(Tag.OCTET_STRING, b);
export const ia5 = (s: string): Buffer => tlv(Tag.IA5_STRING, Buffer.from(s, 'latin1'));
export const utf8 = (s: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(s, 'utf8'));
export const bool = (v: boolean): Buffer => tlv(Tag.BOOLEAN, Buffer.from([v ? 0xff : 0]));
export const nullValue = (): Buffer => Buffer.from([Tag.NULL, 0]);

/** A context-specific tag: `[n]`, constructed (explicit or a SEQUENCE-like implicit) or primitive. */
export function ctx(n: number, constructed: boolean, ...parts: readonly Uint8Array[]): Buffer {
  return tlv(0x80 | (constructed ? 0x20 : 0) | n, ...parts);
}

/** An INTEGER from unsigned big-endian bytes (adds a 0x00 when the top bit is set). */
export function uint(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  const pad = ((trimmed[0] ?? 0) & 0x80) !== 0 || trimmed.length === 0;
  return tlv(Tag.INTEGER, pad ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export const smallInt = (n: number): Buffer => uint(Buffer.from([n & 0xff]));

export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  return tlv(Tag.BIT_STRING, Buffer.from([unusedBits]), bytes);
}

/** A named-bit BIT STRING (KeyUsage) in DER form: trailing zero bits dropped. */
export function namedBits(bits: readonly number[]): Buffer {
  const max = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] as number) | (0x80 >> (b & 7));
  return bitString(bytes, 7 - (max & 7));
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [];
  const push = (v: number): void => {
    const tmp = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128))
      tmp.unshift((x & 0x7f) | 0x80);
    out.push(...tmp);
  };
  push((arcs[0] as number) * 40 + (arcs[1] as number));
  for (const a of arcs.slice(2)) push(a);
  return tlv(Tag.OID, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5); whole seconds. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const p = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(`${p(y % 100)}${rest}`));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${String(y).padStart(4, '0')}${rest}`));
}
