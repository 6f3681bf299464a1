/**
 * The Gateway API CORS filter (HTTPCORSFilter, GEP-1767), as pure
 * functions: which origins may read a route's responses, the answer to a
 * preflight, and the fields an actual cross-origin response gets.
 *
 * Choices where the spec leaves room: a preflight is answered by the
 * waypoint (200, never forwarded), with no CORS fields when its origin is
 * not allowed (the spec's 200-without-fields option); a response whose
 * `Access-Control-Allow-Origin` names the request's origin also gets
 * `Vary: Origin`, so shared caches keep one answer per origin.
 */

/** An allowed origin: `<scheme>://<host>[:<port>]`, `*` leftmost in the host allowed. */
interface OriginPattern {
  readonly scheme: string;
  /** Lowercase; a leading `*` matches any run of characters (labels and dots). */
  readonly host: string;
  readonly port: number;
}

export interface CorsPolicy {
  /** 'any': the single `*` origin. */
  readonly origins: readonly OriginPattern[] | 'any';
  readonly methods: readonly string[] | 'any';
  /** Lowercase header names. */
  readonly headers: readonly string[] | 'any';
  readonly expose: readonly string[] | 'any';
  readonly credentials: boolean;
  readonly maxAgeSeconds: number;
}

export interface CorsConfig {
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  readonly maxAgeSeconds: number;
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

/** `<scheme>://<host>[:<port>]` split, the port defaulted by scheme; undefined if not one. */
function parseOrigin(s: string): OriginPattern | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\[[^\]]*\]|[^:/]+)(?::([0-9]{1,5}))?$/.exec(s);
  if (!m) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  const port = m[3] !== undefined ? Number(m[3]) : DEFAULT_PORTS[scheme];
  if (port === undefined || port < 1 || port > 65535) return undefined;
  return { scheme, host: (m[2] as string).toLowerCase(), port };
}

const isAny = (list: readonly string[]): boolean => list.length === 1 && list[0] === '*';

/**
 * The policy for a filter's fields. Origins that cannot be parsed match
 * nothing (the control plane's schema refuses them before they get here).
 */
export function compileCors(c: CorsConfig): CorsPolicy {
  return {
    origins: isAny(c.allowOrigins)
      ? 'any'
      : c.allowOrigins.flatMap((o) => {
          const p = parseOrigin(o);
          return p ? [p] : [];
        }),
    methods: isAny(c.allowMethods) ? 'any' : [...c.allowMethods],
    headers: isAny(c.allowHeaders) ? 'any' : c.allowHeaders.map((h) => h.toLowerCase()),
    expose: isAny(c.exposeHeaders) ? 'any' : [...c.exposeHeaders],
    credentials: c.allowCredentials,
    maxAgeSeconds: c.maxAgeSeconds > 0 ? c.maxAgeSeconds : 5,
  };
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) {
    const suffix = pattern.slice(1);
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return pattern === host;
}

export function originAllowed(p: CorsPolicy, origin: string): boolean {
  if (p.origins === 'any') return origin !== '';
  const o = parseOrigin(origin);
  if (!o) return false;
  return p.origins.some(
    (x) => x.scheme === o.scheme && x.port === o.port && hostMatches(x.host, o.host),
  );
}

/** Whether a request is a CORS preflight (Fetch: OPTIONS with Origin and a requested method). */
export function isPreflight(
  method: string,
  origin: string | undefined,
  requestMethod: string | undefined,
): boolean {
  return method === 'OPTIONS' && origin !== undefined && requestMethod !== undefined;
}

/** `Access-Control-Allow-Origin` (and `Vary` when it names the origin). */
function originFields(p: CorsPolicy, origin: string, out: Record<string, string>): void {
  // `*` cannot be used with credentials: the origin itself is returned then.
  if (p.origins === 'any' && !p.credentials) out['access-control-allow-origin'] = '*';
  else {
    out['access-control-allow-origin'] = origin;
    out.vary = 'Origin';
  }
  if (p.credentials) out['access-control-allow-credentials'] = 'true';
}

/**
 * The fields of the waypoint's answer to a preflight; undefined when the
 * origin is not allowed (the answer then carries no CORS fields).
 */
export function preflightFields(
  p: CorsPolicy,
  origin: string,
  requestMethod: string | undefined,
  requestHeaders: string | undefined,
): Record<string, string> | undefined {
  if (!originAllowed(p, origin)) return undefined;
  const out: Record<string, string> = {};
  originFields(p, origin, out);
  if (p.methods === 'any') {
    if (!p.credentials) out['access-control-allow-methods'] = '*';
    else if (requestMethod) out['access-control-allow-methods'] = requestMethod;
  } else if (p.methods.length > 0) out['access-control-allow-methods'] = p.methods.join(', ');
  if (p.headers === 'any') {
    if (!p.credentials) out['access-control-allow-headers'] = '*';
    else if (requestHeaders) out['access-control-allow-headers'] = requestHeaders;
  } else if (p.headers.length > 0) out['access-control-allow-headers'] = p.headers.join(', ');
  out['access-control-max-age'] = String(p.maxAgeSeconds);
  return out;
}

/** The fields an actual cross-origin response gets; undefined when the origin is not allowed. */
export function responseFields(p: CorsPolicy, origin: string): Record<string, string> | undefined {
  if (!originAllowed(p, origin)) return undefined;
  const out: Record<string, string> = {};
  originFields(p, origin, out);
  if (p.expose === 'any') {
    // `*` is literal for a request with credentials; nothing to expose then.
    if (!p.credentials) out['access-control-expose-headers'] = '*';
  } else if (p.expose.length > 0) out['access-control-expose-headers'] = p.expose.join(', ');
  return out;
}
