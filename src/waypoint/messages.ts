/**
 * The waypoint's view of a downstream exchange: the request as the pipeline
 * reads it (HTTP/1.1's parsed field list, or HTTP/2's header object) and
 * the response writer it answers through.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { fieldValue, type HeaderList, headerObject } from './h1/parse.js';
import { CONNECTION_FIELDS, checkedValue, FieldLines, parsedLines } from './h1/serialize.js';
import type { SwitchedConnection } from './h1/server.js';

/** Downstream request, HTTP/1.1 (h1/server.ts) or HTTP/2 (node:http2 compat API). */
export interface Downstream {
  readonly method: string;
  readonly url: string;
  /** The request body; undefined when the request has none. */
  readonly body: Readable | undefined;
  /**
   * One field's value by lowercase name, repeats joined with ", " (as
   * node:http's header objects); HTTP/2 pseudo-headers too (":authority").
   */
  header(name: string): string | undefined;
  /** The end-to-end fields to send upstream: a fresh object the pipeline may change. */
  forwardHeaders(): OutgoingHttpHeaders;
  /**
   * The same fields as HTTP/1.1 lines, with `host` and `traceparent` set
   * and an `x-request-id` added when the client sent none; undefined when
   * this downstream cannot build them (HTTP/2).
   */
  forwardLines(authority: string, traceparent: string): FieldLines | undefined;
  /**
   * HTTP/1.1 only: the protocols a body-less request asks to switch to
   * (`Upgrade` with `Connection: upgrade`); undefined otherwise.
   */
  readonly upgrade: string | undefined;
}

/** A request whose fields are a node:http-style object (HTTP/2). */
export class ObjectDownstream implements Downstream {
  readonly upgrade = undefined;

  constructor(
    readonly method: string,
    readonly url: string,
    private readonly headers: IncomingHttpHeaders,
    readonly body: Readable | undefined,
  ) {}

  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  forwardHeaders(): OutgoingHttpHeaders {
    return cleanHeaders(this.headers);
  }

  forwardLines(): undefined {
    return undefined;
  }
}

/**
 * An HTTP/1.1 request: its fields stay the parser's flat list, looked up
 * and copied from there, with no header object built in between (that
 * object and its copy cost ~3.5 µs of a ~23 µs request path at 1000 RPS,
 * docs/performance.md "Fourth pass").
 */
export class ListDownstream implements Downstream {
  constructor(
    readonly method: string,
    readonly url: string,
    private readonly fields: HeaderList,
    readonly body: Readable | undefined,
    readonly upgrade: string | undefined = undefined,
  ) {}

  header(name: string): string | undefined {
    const f = this.fields;
    let out: string | undefined;
    for (let i = 0; i < f.length; i += 2)
      if (f[i] === name) out = out === undefined ? f[i + 1] : `${out}, ${f[i + 1]}`;
    return out;
  }

  forwardHeaders(): OutgoingHttpHeaders {
    return headerObject(this.fields, HOP_BY_HOP);
  }

  forwardLines(authority: string, traceparent: string): FieldLines {
    // The parser checked every name and value; the authority may be the
    // service key (no Host sent), so it is checked here.
    let out = parsedLines(this.fields, LINES_SKIP);
    out += `host: ${checkedValue('host', authority)}\r\ntraceparent: ${traceparent}\r\n`;
    if (fieldValue(this.fields, 'x-request-id') === undefined)
      out += `x-request-id: ${randomUUID()}\r\n`;
    return new FieldLines(out);
  }
}

/** Downstream response writer (h1/server.ts's H1Response, or HTTP/2's). */
export interface DownstreamResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): void;
  /**
   * HTTP/1.1 only: a head whose fields are already checked lines (an
   * upstream response nothing changes), with the body's Content-Length.
   */
  writeHeadLines?(status: number, lines: FieldLines, contentLength: number | undefined): void;
  /** Body bytes; false: wait for `onDrain` before writing more. */
  write(chunk: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** Ends the response; `trailers` go out on HTTP/2 only (gRPC status). */
  end(body?: string | Buffer, trailers?: OutgoingHttpHeaders): void;
  destroy(): void;
  /** The client went away (connection closed, stream reset): nothing more reaches it. */
  readonly aborted: boolean;
  /** Calls `cb` once if the client goes away before the response ended. */
  onClose(cb: () => void): void;
  /**
   * HTTP/1.1 only: answers 101 with `lines` (plus `Connection: upgrade` and
   * `Upgrade: protocol`) and hands over the connection: its stream (paused),
   * the bytes the client sent after its request, and its idle timeout.
   */
  upgrade?(lines: FieldLines, protocol: string): SwitchedConnection;
}

/**
 * Whether `upgrade` offers WebSocket: the one protocol a waypoint switches
 * to, as Envoy's default `upgrade_configs` in Istio (an `h2c` upgrade is
 * dropped: HTTP/2 is spoken with prior knowledge).
 */
export function offersWebSocket(upgrade: string | undefined): boolean {
  if (upgrade === undefined) return false;
  for (const p of upgrade.split(',')) if (p.trim().toLowerCase() === 'websocket') return true;
  return false;
}

export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  ...CONNECTION_FIELDS,
  'http2-settings',
  'host',
  // The waypoint answers `Expect: 100-continue` itself (h1/server.ts).
  'expect',
]);

/**
 * Left out of forwarded lines: hop-by-hop fields, the framing the upstream
 * client writes itself, and the trace context this hop replaces.
 */
const LINES_SKIP: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length', 'traceparent']);

export function cleanHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':') || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function headerValue(
  h: OutgoingHttpHeaders | IncomingHttpHeaders,
  name: string,
): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}
