/**
 * HTTP/1.1 heads as bytes. Names and values are checked the way node:http
 * checks them (no CR, LF or other controls: a value carrying CRLF would let
 * config or an upstream split the message), and a head plus a small body go
 * out as one Buffer: one write(2) per message, and tunnel streams never see
 * a string chunk (see upstream.ts on zeroed writev chunks).
 */

import type { OutgoingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Connection-level fields (RFC 9110 §7.6.1): they describe one hop, so a
 * proxy never forwards them; each side adds the few it handles itself.
 */
export const CONNECTION_FIELDS: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
];

/** A header name or value that cannot be put on the wire. */
export class HeaderValueError extends Error {
  override readonly name = 'HeaderValueError';
}

/** Names already checked; the same few repeat on every message (bounded). */
const validNames = new Set<string>();

function checkName(name: string): void {
  if (validNames.has(name)) return;
  if (!TOKEN.test(name)) throw new HeaderValueError(`invalid header name ${JSON.stringify(name)}`);
  if (validNames.size < 1024) validNames.add(name);
}

/** Controls other than HTAB, CR and LF, and anything beyond latin1. */
const BAD_CHAR = /[^\t\r\n\x20-\x7e\x80-\xff]/;

/** Occurrences of the character `c` in `s`. */
function count(s: string, c: string): number {
  let n = 0;
  for (let i = s.indexOf(c); i >= 0; i = s.indexOf(c, i + 1)) n++;
  return n;
}

/**
 * Header lines for `headers`, skipping `skip` (lowercase names the caller
 * writes itself, e.g. framing and connection fields). Values are checked
 * once over the whole block rather than one regex per field: `lines` fields
 * must add exactly `lines` CRs and LFs, so a value carrying either shows up
 * as a surplus; only then are the fields checked one by one, to name it.
 */
export function fieldLines(headers: OutgoingHttpHeaders, skip: ReadonlySet<string>): string {
  let out = '';
  let lines = 0;
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || skip.has(name)) continue;
    checkName(name);
    if (Array.isArray(v)) {
      for (const one of v) out += `${name}: ${one}\r\n`;
      lines += v.length;
    } else {
      out += `${name}: ${typeof v === 'string' ? v : String(v)}\r\n`;
      lines += 1;
    }
  }
  if (lines > 0 && (BAD_CHAR.test(out) || count(out, '\n') !== lines || count(out, '\r') !== lines))
    throw badField(headers, skip);
  return out;
}

/** The error naming the first field that cannot be written. */
function badField(headers: OutgoingHttpHeaders, skip: ReadonlySet<string>): HeaderValueError {
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || skip.has(name)) continue;
    for (const one of Array.isArray(v) ? v : [String(v)])
      if (BAD_VALUE.test(one)) return new HeaderValueError(`invalid value for header ${name}`);
  }
  return new HeaderValueError('invalid header value');
}

export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
}

/** `head` (latin1) followed by `body`, as one Buffer. */
export function withBody(head: string, body?: Buffer | string): Buffer {
  const headLen = head.length;
  if (body === undefined || body.length === 0) return Buffer.from(head, 'latin1');
  if (typeof body === 'string') {
    const out = Buffer.allocUnsafe(headLen + Buffer.byteLength(body));
    out.write(head, 0, 'latin1');
    out.write(body, headLen, 'utf8');
    return out;
  }
  const out = Buffer.allocUnsafe(headLen + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, headLen);
  return out;
}
