/**
 * HTTPRoute filters as pure functions over a mutable request/response head.
 * The engine applies route filters, then the chosen backend's filters.
 */
import { prefixMatches } from './router.js';
import type { CompiledMatch, HeaderModifier, PathModifier, RouteFilter } from './types.js';

/** Lowercase header names; Node's OutgoingHttpHeaders shape. */
export type Headers = Record<string, string | string[] | number | undefined>;

export interface RequestHead {
  method: string;
  /** "http" or "https" as seen by the client. */
  scheme: string;
  /** Host header value (may include a port). */
  authority: string;
  /** Path with query string. */
  path: string;
  headers: Headers;
}

/** Gateway API HeaderModifier: set replaces, add appends, remove deletes. */
export function modifyHeaders(headers: Headers, mod: HeaderModifier): void {
  for (const [k, v] of mod.set) headers[k] = v;
  for (const [k, v] of mod.add) {
    const cur = headers[k];
    if (cur === undefined) headers[k] = v;
    else if (Array.isArray(cur)) headers[k] = [...cur, v];
    else headers[k] = `${String(cur)},${v}`;
  }
  for (const k of mod.remove) delete headers[k];
}

function splitPath(path: string): [string, string] {
  const i = path.indexOf('?');
  return i < 0 ? [path, ''] : [path.slice(0, i), path.slice(i)];
}

/**
 * New path for a path modifier. ReplacePrefixMatch follows the spec's table:
 * trailing slashes of prefix and replacement are ignored, and an empty
 * result becomes "/" (e.g. prefix /foo, path /foo/bar, replacement /xyz/ → /xyz/bar).
 */
export function rewritePath(
  pathWithQuery: string,
  mod: PathModifier,
  match: CompiledMatch | undefined,
): string {
  const [path, query] = splitPath(pathWithQuery);
  if (mod.type === 'ReplaceFullPath') return `${mod.value || '/'}${query}`;
  // Only meaningful with a PathPrefix match (the control plane validates that).
  if (match?.pathType !== 'PathPrefix' || !prefixMatches(match.path, path)) return pathWithQuery;
  const rest = path.slice(match.path.length);
  const replacement = mod.value.replace(/\/+$/, '');
  const out = replacement + rest;
  return `${out === '' ? '/' : out.startsWith('/') ? out : `/${out}`}${query}`;
}

const WELL_KNOWN: Record<string, number> = { http: 80, https: 443 };

function hostOnly(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  const i = authority.lastIndexOf(':');
  return i < 0 ? authority : authority.slice(0, i);
}

/**
 * The Location of a RequestRedirect. Port rules (spec): an explicit port
 * wins; else a set scheme implies its well-known port; else the listener
 * port. The port is left out when it is the scheme's default.
 */
export function redirectLocation(
  f: Extract<RouteFilter, { type: 'RequestRedirect' }>,
  req: RequestHead,
  listenerPort: number,
  match: CompiledMatch | undefined,
): string {
  const scheme = f.scheme ?? req.scheme;
  const host = f.hostname ?? hostOnly(req.authority);
  const port = f.port ?? (f.scheme ? (WELL_KNOWN[f.scheme] ?? listenerPort) : listenerPort);
  const path = f.path ? rewritePath(req.path, f.path, match) : req.path;
  const showPort = WELL_KNOWN[scheme] !== port;
  return `${scheme}://${host}${showPort ? `:${port}` : ''}${path}`;
}

export type FilterOutcome =
  | {
      readonly kind: 'continue';
      readonly mirrors: readonly Extract<RouteFilter, { type: 'RequestMirror' }>[];
    }
  | { readonly kind: 'redirect'; readonly status: number; readonly location: string };

/** Applies request-side filters in order; a redirect short-circuits. */
export function applyRequestFilters(
  filters: readonly RouteFilter[],
  req: RequestHead,
  listenerPort: number,
  match: CompiledMatch | undefined,
): FilterOutcome {
  const mirrors: Extract<RouteFilter, { type: 'RequestMirror' }>[] = [];
  for (const f of filters) {
    switch (f.type) {
      case 'RequestHeaderModifier':
        modifyHeaders(req.headers, f.modifier);
        break;
      case 'RequestRedirect':
        return {
          kind: 'redirect',
          status: f.statusCode,
          location: redirectLocation(f, req, listenerPort, match),
        };
      case 'URLRewrite':
        if (f.hostname) {
          req.authority = f.hostname;
          req.headers.host = f.hostname;
        }
        if (f.path) req.path = rewritePath(req.path, f.path, match);
        break;
      case 'RequestMirror':
        mirrors.push(f);
        break;
      default:
        break;
    }
  }
  return { kind: 'continue', mirrors };
}

/** Applies ResponseHeaderModifier filters to response headers. */
export function applyResponseFilters(filters: readonly RouteFilter[], headers: Headers): void {
  for (const f of filters)
    if (f.type === 'ResponseHeaderModifier') modifyHeaders(headers, f.modifier);
}
