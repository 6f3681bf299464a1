/**
 * HTTP/1.1 message heads (RFC 9112), parsed strictly enough to be safe in
 * front of other parsers: a waypoint that accepts what the app's parser
 * reads differently is a request-smuggling hole. So: CRLF line ends only,
 * token header names with no space before the colon, no obs-fold, no
 * control characters in values, Content-Length digits only (repeats must
 * agree), Content-Length together with Transfer-Encoding refused, and only
 * `chunked` as a transfer coding. Pure functions over a Buffer.
 */

import type { IncomingHttpHeaders } from 'node:http';

/** Header fields as a flat list: [name0, value0, name1, value1, …], names lowercased. */
export type HeaderList = string[];

/**
 * Fields as node:http gives them: lowercase keys, duplicates joined with
 * ", ", set-cookie a list (its values cannot be joined); `skip` leaves
 * fields out.
 */
export function headerObject(list: HeaderList, skip?: ReadonlySet<string>): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    if (skip?.has(name)) continue;
    const value = list[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = `${prev}, ${value}`;
  }
  return out;
}

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: 0 | 1;
  readonly headers: HeaderList;
  readonly framing: Framing;
  /** The client wants the connection closed after this exchange. */
  readonly close: boolean;
  /** `Expect: 100-continue` was sent. */
  readonly expectContinue: boolean;
  /**
   * The protocols of `Upgrade` when the request asks to switch (the
   * `upgrade` token in Connection, RFC 9110 §7.8) and has no body; else
   * undefined.
   */
  readonly upgrade: string | undefined;
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly minor: 0 | 1;
  readonly headers: HeaderList;
  /** Body framing as sent; `none` for 1xx/204/304 is decided by the caller. */
  readonly framing: Framing;
  /** The Content-Length sent (repeats agree), also where it frames no body (HEAD, 304). */
  readonly contentLength: number | undefined;
  readonly close: boolean;
  /** The `Upgrade` field (a 101's new protocol). */
  readonly upgrade: string | undefined;
}

/** How a message body is delimited (RFC 9112 §6.3). */
export type Framing =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  /** Responses only: the body runs until the connection closes. */
  | { readonly kind: 'close' };

export const NO_BODY: Framing = Object.freeze({ kind: 'none' });
const CHUNKED: Framing = Object.freeze({ kind: 'chunked' });
const UNTIL_CLOSE: Framing = Object.freeze({ kind: 'close' });

/** A head that cannot be served; `status` is what the client should get. */
export interface HeadError {
  readonly error: true;
  readonly status: 400 | 431 | 501 | 505;
  readonly reason: string;
}

export interface Parsed<T> {
  readonly error: false;
  readonly head: T;
  /** Bytes of the head, including the blank line. */
  readonly length: number;
}

export interface HeadLimits {
  /** Largest head, bytes (request line + fields + blank line). */
  readonly maxBytes: number;
  /** Most header fields. */
  readonly maxFields: number;
}

export const DEFAULT_HEAD_LIMITS: HeadLimits = Object.freeze({ maxBytes: 16384, maxFields: 100 });

const CRLFCRLF = Buffer.from('\r\n\r\n');
/**
 * Chunks up to this size are decoded whole and searched as a string (one
 * call out of the JIT); in a larger chunk the head's end is found in the
 * Buffer first, so a response's body is never decoded just to be dropped.
 */
const DECODE_WHOLE = 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII and obs-text, no spaces or controls (request-target). */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
/** Field values: anything but controls other than HTAB. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^[0-9]{1,15}$/;

const nameCache = new Map<string, string>();
/**
 * The lowercase form of a field name as sent, or undefined when it is not a
 * valid token. Names repeat, so valid ones are cached (bounded): a known
 * name costs one map lookup instead of a regex test and a lowercasing.
 */
function fieldName(raw: string): string | undefined {
  let l = nameCache.get(raw);
  if (l === undefined) {
    if (!TOKEN.test(raw)) return undefined;
    l = raw.toLowerCase();
    if (nameCache.size < 1024) nameCache.set(raw, l);
  }
  return l;
}

function fail(status: HeadError['status'], reason: string): HeadError {
  return { error: true, status, reason };
}

/**
 * Finds and parses a complete head at the start of `buf`. Returns undefined
 * while incomplete (and still within limits), a {@link HeadError} for a bad
 * or oversized head.
 */
function splitHead(
  buf: Buffer,
  limits: HeadLimits,
): { text: string; startLine: string; length: number; clean: boolean } | HeadError | undefined {
  // RFC 9112 §2.2: ignore empty lines before the start line.
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  let decoded: string | undefined;
  let at = -1;
  let end: number;
  if (buf.length - start <= DECODE_WHOLE) {
    decoded = buf.toString('latin1', start);
    at = decoded.indexOf('\r\n\r\n');
    end = at >= 0 ? start + at : -1;
  } else end = buf.indexOf(CRLFCRLF, start);
  if (end < 0) {
    if (buf.length > limits.maxBytes) return fail(431, 'request header fields too large');
    // A bare LF line end would never complete a CRLF head: refuse it now.
    const lf = buf.indexOf(10, start);
    if (lf >= 0 && buf[lf - 1] !== 13) return fail(400, 'bare LF in head');
    return undefined;
  }
  const length = end + 4;
  if (length > limits.maxBytes) return fail(431, 'request header fields too large');
  const text =
    decoded !== undefined && at >= 0 ? decoded.slice(0, at) : buf.toString('latin1', start, end);
  // One pass over the head (it is parsed in place, never split into lines):
  // every CR starts a CRLF and every LF ends one; any other control
  // character but HTAB, or DEL, makes the head unclean (parseFields then
  // says where). One loop costs less than the indexOf scans and a regex it
  // replaces, each a call out of the JIT's code.
  let lines = 1;
  let clean = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20) {
      if (c === 0x7f) clean = false;
    } else if (c === 13) {
      if (text.charCodeAt(i + 1) !== 10) return fail(400, 'bare CR or LF in head');
      i++;
      lines++;
    } else if (c === 10) return fail(400, 'bare CR or LF in head');
    else if (c !== 9) clean = false;
  }
  if (lines - 1 > limits.maxFields) return fail(431, 'too many header fields');
  const eol = text.indexOf('\r\n');
  return { text, startLine: eol < 0 ? text : text.slice(0, eol), length, clean };
}

interface Fields {
  headers: HeaderList;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  connection: string | undefined;
  expect: string | undefined;
  upgrade: string | undefined;
}

/**
 * The value between `from` and `to` without its OWS: spaces and tabs only
 * (RFC 9110 §5.5), not everything String.trim() strips (a vertical tab stays
 * and is refused; an obs-text NBSP stays part of the value).
 */
function fieldValueAt(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && isOws(text.charCodeAt(a))) a++;
  while (b > a && isOws(text.charCodeAt(b - 1))) b--;
  return text.slice(a, b);
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * The field lines of `text` (a head without its blank line), after the
 * start line; `clean`: splitHead found no control character in it.
 */
function parseFields(text: string, startLineLength: number, clean: boolean): Fields | HeadError {
  const headers: HeaderList = [];
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  let expect: string | undefined;
  let upgrade: string | undefined;
  // Only a head with a control character somewhere (splitHead's scan) is
  // checked field by field, to say which (or that the start line has it).
  for (let pos = startLineLength + 2; pos < text.length + 2; ) {
    let eol = text.indexOf('\r\n', pos);
    if (eol < 0) eol = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > eol) return fail(400, 'malformed header field');
    const name = fieldName(text.slice(pos, colon));
    if (name === undefined) return fail(400, 'invalid header field name');
    const value = fieldValueAt(text, colon + 1, eol);
    pos = eol + 2;
    if (!clean && BAD_VALUE.test(value)) return fail(400, 'invalid header field value');
    switch (name) {
      case 'content-length': {
        if (!value.includes(',')) {
          if (!DIGITS.test(value)) return fail(400, 'invalid content-length');
          if (contentLength !== undefined && contentLength !== value)
            return fail(400, 'conflicting content-length');
          contentLength = value;
          break;
        }
        // "5, 5" and repeated fields with the same value are one length.
        for (const v of value.split(',')) {
          const n = v.trim();
          if (!DIGITS.test(n)) return fail(400, 'invalid content-length');
          if (contentLength !== undefined && contentLength !== n)
            return fail(400, 'conflicting content-length');
          contentLength = n;
        }
        break;
      }
      case 'transfer-encoding':
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case 'connection':
        connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case 'expect':
        expect = value;
        break;
      case 'upgrade':
        upgrade = upgrade === undefined ? value : `${upgrade}, ${value}`;
        break;
    }
    headers.push(name, value);
  }
  if (!clean) return fail(400, 'invalid character in start line');
  const kept = connection === undefined ? headers : withoutNominated(headers, connection);
  return { headers: kept, contentLength, transferEncoding, connection, expect, upgrade };
}

/** Connection options that name no field, and fields no option may remove. */
const NOT_NOMINATED: ReadonlySet<string> = new Set([
  'close',
  'keep-alive',
  // Framing and the target authority stay: the head was framed by them, and
  // a client must not be able to make this hop lose them.
  'content-length',
  'transfer-encoding',
  'host',
]);

/**
 * `headers` without the fields the Connection header names (RFC 9110
 * §7.6.1: they are about this hop only, and an intermediary MUST remove
 * them before forwarding). The usual lone "keep-alive" or "close" costs
 * one comparison.
 */
function withoutNominated(headers: HeaderList, connection: string): HeaderList {
  if (NOT_NOMINATED.has(connection)) return headers;
  if (!connection.includes(',') && NOT_NOMINATED.has(connection.toLowerCase())) return headers;
  let named: Set<string> | undefined;
  for (const option of connection.split(',')) {
    const name = option.trim().toLowerCase();
    if (name === '' || NOT_NOMINATED.has(name) || !TOKEN.test(name)) continue;
    named ??= new Set();
    named.add(name);
  }
  if (named === undefined) return headers;
  const out: HeaderList = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (!named.has(name)) out.push(name, headers[i + 1] as string);
  }
  return out;
}

function version(v: string | undefined): 0 | 1 | HeadError {
  if (v === 'HTTP/1.1') return 1;
  if (v === 'HTTP/1.0') return 0;
  if (v !== undefined && /^HTTP\/[0-9]\.[0-9]$/.test(v))
    return fail(505, 'HTTP version not supported');
  return fail(400, 'malformed start line');
}

function hasToken(list: string | undefined, token: string): boolean {
  if (list === undefined) return false;
  // The usual single token ("keep-alive", "close"), without split()'s
  // array, and lowercased only when its length could match.
  if (!list.includes(',')) {
    const t = list.trim();
    return t.length === token.length && (t === token || t.toLowerCase() === token);
  }
  for (const t of list.split(',')) if (t.trim().toLowerCase() === token) return true;
  return false;
}

/** Whether the connection ends after this message (RFC 9112 §9.3). */
function wantsClose(minor: 0 | 1, connection: string | undefined): boolean {
  if (hasToken(connection, 'close')) return true;
  return minor === 0 && !hasToken(connection, 'keep-alive');
}

/** Methods already seen valid; the same few repeat on every request (bounded). */
const validMethods = new Set<string>();

function validMethod(method: string): boolean {
  if (validMethods.has(method)) return true;
  if (!TOKEN.test(method)) return false;
  if (validMethods.size < 64) validMethods.add(method);
  return true;
}

/** The three-digit status code at `at` (100–999), or -1. */
function statusCode(line: string, at: number): number {
  const a = line.charCodeAt(at) - 48;
  const b = line.charCodeAt(at + 1) - 48;
  const c = line.charCodeAt(at + 2) - 48;
  // NaN past the end of the line fails these comparisons too.
  if (!(a >= 1 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9)) return -1;
  return a * 100 + b * 10 + c;
}

/** Longest method accepted before its SP arrives; real ones are short. */
const MAX_METHOD = 32;

/**
 * An incomplete head whose first bytes already cannot start a request line
 * (bytes that are not HTTP at all): 400 now, rather than 408 when the
 * headers timeout ends a wait for a head that never comes.
 */
function badStart(buf: Buffer): HeadError | undefined {
  // Empty lines before the start line are allowed (splitHead skips them).
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  if (start === buf.length || (start + 1 === buf.length && buf[start] === 13)) return undefined;
  const sp = buf.indexOf(0x20, start);
  if (sp < 0 && buf.length - start <= MAX_METHOD) {
    return TOKEN.test(buf.toString('latin1', start)) ? undefined : fail(400, 'invalid method');
  }
  const method = buf.toString('latin1', start, sp < 0 ? start + MAX_METHOD + 1 : sp);
  return method.length > 0 && method.length <= MAX_METHOD && TOKEN.test(method)
    ? undefined
    : fail(400, 'invalid method');
}

/** Parses a request head at the start of `buf` (undefined: need more bytes). */
export function parseRequestHead(
  buf: Buffer,
  limits: HeadLimits = DEFAULT_HEAD_LIMITS,
): Parsed<RequestHead> | HeadError | undefined {
  const split = splitHead(buf, limits);
  if (split === undefined) return badStart(buf);
  if ('error' in split) return split;
  const { text, startLine, length, clean } = split;
  const sp1 = startLine.indexOf(' ');
  const sp2 = startLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || startLine.indexOf(' ', sp2 + 1) >= 0)
    return fail(400, 'malformed request line');
  const method = startLine.slice(0, sp1);
  const target = startLine.slice(sp1 + 1, sp2);
  if (!validMethod(method)) return fail(400, 'invalid method');
  // splitHead found no control character in a clean head, and the target
  // has no space (the start line split on them): only emptiness is left.
  if (target.length === 0 || (!clean && !TARGET.test(target)))
    return fail(400, 'invalid request target');
  const minor = version(startLine.slice(sp2 + 1));
  if (typeof minor !== 'number') return minor;
  const f = parseFields(text, startLine.length, clean);
  if ('error' in f) return f;
  let framing: Framing = NO_BODY;
  if (f.transferEncoding !== undefined) {
    // RFC 9112 §6.1: both present is a smuggling attempt; a 1.0 client cannot chunk.
    if (f.contentLength !== undefined) return fail(400, 'content-length with transfer-encoding');
    if (minor === 0) return fail(400, 'transfer-encoding in HTTP/1.0');
    const te = f.transferEncoding.trim().toLowerCase();
    // RFC 9112 §6.3: chunked not the final coding leaves the body length
    // unknown: 400 and close. Another coding before chunked is merely not
    // supported: 501 (RFC 9112 §6.1, as Envoy answers).
    if (!/(^|,)\s*chunked$/.test(te)) return fail(400, 'chunked is not the final transfer-coding');
    if (te !== 'chunked') return fail(501, 'unsupported transfer-encoding');
    framing = CHUNKED;
  } else if (f.contentLength !== undefined && f.contentLength !== '0') {
    framing = { kind: 'length', length: digitsValue(f.contentLength) };
  }
  return {
    error: false,
    length,
    head: {
      method,
      target,
      minor,
      headers: f.headers,
      framing,
      close: wantsClose(minor, f.connection),
      expectContinue: f.expect !== undefined && f.expect.toLowerCase() === '100-continue',
      upgrade:
        f.upgrade !== undefined && framing === NO_BODY && hasToken(f.connection, 'upgrade')
          ? f.upgrade
          : undefined,
    },
  };
}

/**
 * Parses a response head. Framing follows the headers only; the caller
 * knows whether the request was HEAD or the status carries no body.
 */
export function parseResponseHead(
  buf: Buffer,
  limits: HeadLimits = DEFAULT_HEAD_LIMITS,
): Parsed<ResponseHead> | HeadError | undefined {
  const split = splitHead(buf, limits);
  if (split === undefined) return badStart(buf);
  if ('error' in split) return split;
  const { text, startLine, length, clean } = split;
  const sp1 = startLine.indexOf(' ');
  const minor = version(sp1 < 0 ? startLine : startLine.slice(0, sp1));
  if (typeof minor !== 'number') return fail(400, 'malformed status line');
  const status = statusCode(startLine, sp1 + 1);
  if (status < 0 || (startLine.length > sp1 + 4 && startLine.charCodeAt(sp1 + 4) !== 32))
    return fail(400, 'malformed status line');
  const f = parseFields(text, startLine.length, clean);
  if ('error' in f) return f;
  let framing: Framing;
  if (f.transferEncoding !== undefined) {
    // RFC 9112 §6.3 lets an intermediary treat this as an error; forwarding
    // it would invite response splitting.
    if (f.contentLength !== undefined) return fail(400, 'content-length with transfer-encoding');
    // Other codings would have to be passed on as such; no app sends them.
    if (f.transferEncoding.trim().toLowerCase() !== 'chunked')
      return fail(501, 'unsupported transfer-encoding');
    framing = CHUNKED;
  } else if (f.contentLength !== undefined) {
    framing =
      f.contentLength === '0' ? NO_BODY : { kind: 'length', length: digitsValue(f.contentLength) };
  } else framing = UNTIL_CLOSE;
  return {
    error: false,
    length,
    head: {
      status,
      reason: startLine.slice(sp1 + 5),
      minor,
      headers: f.headers,
      framing,
      contentLength: f.contentLength === undefined ? undefined : digitsValue(f.contentLength),
      close: wantsClose(minor, f.connection) || framing.kind === 'close',
      upgrade: f.upgrade,
    },
  };
}

/**
 * The number a string of at most 15 ASCII digits (checked by the caller)
 * stands for: exact in a double, and without Number()'s trip into the
 * runtime for a sliced string.
 */
function digitsValue(d: string): number {
  let n = 0;
  for (let i = 0; i < d.length; i++) n = n * 10 + (d.charCodeAt(i) - 48);
  return n;
}

/** The value of the first field `name` (lowercase) in a list. */
export function fieldValue(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}
