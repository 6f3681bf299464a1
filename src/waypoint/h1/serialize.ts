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

/**
 * Whether `v` can be a field value: no controls but HTAB, nothing beyond
 * latin1. A charCode loop rather than a regex: values are often
 * concatenations (V8 cons strings) that a regex would first flatten in the
 * runtime, which costs more than the scan.
 */
function cleanValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/**
 * Header lines for `headers`, skipping `skip` (lowercase names the caller
 * writes itself, e.g. framing and connection fields).
 */
export function fieldLines(headers: OutgoingHttpHeaders, skip: ReadonlySet<string>): string {
  let out = '';
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || skip.has(name)) continue;
    checkName(name);
    if (Array.isArray(v)) {
      for (const one of v) {
        if (!cleanValue(one)) throw badValue(name);
        out += `${name}: ${one}\r\n`;
      }
    } else {
      const one = typeof v === 'string' ? v : String(v);
      if (!cleanValue(one)) throw badValue(name);
      out += `${name}: ${one}\r\n`;
    }
  }
  return out;
}

/**
 * Fields already written as HTTP/1.1 field lines ("name: value\r\n" each,
 * no framing or connection fields), built only from checked input: a parsed
 * head's fields (parse.ts refused anything unsafe) and values the builder
 * checked itself. Writing them needs no object, no copy and no second check,
 * which is most of what re-serialising a head costs (docs/performance.md).
 */
export class FieldLines {
  constructor(readonly text: string) {}
}

/**
 * Lines for a parsed field list (names and values parse.ts already
 * checked), leaving out `skip`.
 */
export function parsedLines(list: readonly string[], skip: ReadonlySet<string>): string {
  let out = '';
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    if (!skip.has(name)) out += `${name}: ${list[i + 1]}\r\n`;
  }
  return out;
}

/** `value`, checked to be safe on the wire as a field value of `name`. */
export function checkedValue(name: string, value: string): string {
  if (!cleanValue(value)) throw badValue(name);
  return value;
}

function badValue(name: string): HeaderValueError {
  return new HeaderValueError(`invalid value for header ${name}`);
}

const statusLines = new Map<number, string>();

/** `HTTP/1.1 <status> <reason>` and its CRLF; built once per status code. */
export function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (statusLines.size < 1000) statusLines.set(status, line);
  }
  return line;
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
