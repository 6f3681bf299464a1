/**
 * Sample requests for a VirtualService: one that satisfies each match, the
 * same without its headers/query, path variants that probe prefix boundaries
 * ("/api" vs "/api/x" vs "/apix"), and a plain "GET /". Deterministic, so the
 * table can be replayed through a real waypoint.
 */
import type { StringMatch, VsHttpRoute, VsMatch } from '../shapes.js';
import { fullMatch, type SampleRequest } from './types.js';

/** A value satisfying a string match, or undefined if none can be derived. */
export function sampleValue(sm: StringMatch): string | undefined {
  if (sm.exact !== undefined) return sm.exact;
  if (sm.prefix !== undefined) return sm.prefix;
  if (sm.regex !== undefined) return fromRegex(sm.regex);
  return 'x';
}

/** A string the regex fully matches, by a few literal rewrites; undefined if that fails. */
export function fromRegex(re: string): string | undefined {
  const candidate = re
    .replace(/^\^|\$$/g, '')
    .replace(/\\d\+|\[0-9\]\+|\\d\*|\[0-9\]\*/g, '1')
    .replace(/\[\^\/\]\+|\\w\+|\.\+|\[a-z\]\+|\[a-zA-Z0-9-\]\+/g, 'x')
    .replace(/\.\*|\[\^\/\]\*|\\w\*/g, '')
    .replace(/\(\?:|\(|\)|\?/g, '')
    .replace(/\\(.)/g, '$1');
  return fullMatch(re, candidate) ? candidate : undefined;
}

function pathsFor(uri: StringMatch | undefined): string[] {
  if (uri === undefined) return [];
  if (uri.exact !== undefined) return [uri.exact, `${uri.exact}/x`];
  if (uri.prefix !== undefined) {
    const p = uri.prefix;
    if (p === '/') return ['/'];
    const base = p.endsWith('/') ? p.slice(0, -1) : p;
    return [p, `${base}/x`, `${base}x`, ...(p.endsWith('/') ? [base] : [])];
  }
  const v = uri.regex === undefined ? undefined : fromRegex(uri.regex);
  return v === undefined ? [] : [v];
}

interface Line {
  method: string;
  path: string;
}

interface Conditions {
  headers: Record<string, string>;
  query: Record<string, string>;
}

function conditionsOf(m: VsMatch): Conditions | undefined {
  const c: Conditions = { headers: {}, query: {} };
  for (const [k, sm] of Object.entries(m.headers ?? {})) {
    if (k.startsWith(':')) continue;
    const v = sampleValue(sm);
    if (v === undefined) return undefined;
    c.headers[k.toLowerCase()] = v;
  }
  for (const [k, sm] of Object.entries(m.queryParams ?? {})) {
    const v = sampleValue(sm);
    if (v === undefined) return undefined;
    c.query[k] = v;
  }
  return c;
}

export function sampleKey(r: SampleRequest): string {
  const q = Object.entries(r.query)
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const h = Object.entries(r.headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  return `${r.method} ${r.path}${q ? `?${q}` : ''}${h ? ` [${h}]` : ''}`;
}

/**
 * At most `limit` samples (default 64), in a stable order: every request line
 * (method + path) any match names, crossed with every header/query condition
 * set any match names, so overlaps between rules are exercised.
 */
export function samplesFor(http: readonly VsHttpRoute[], limit = 64): SampleRequest[] {
  const lines = new Map<string, Line>([['GET /', { method: 'GET', path: '/' }]]);
  const empty: Conditions = { headers: {}, query: {} };
  const conds = new Map<string, Conditions>([[JSON.stringify(empty), empty]]);
  for (const rule of http) {
    for (const m of rule.match ?? []) {
      const method = m.method?.exact ?? 'GET';
      for (const path of pathsFor(m.uri)) {
        lines.set(`${method} ${path}`, { method, path });
        if (method !== 'GET') lines.set(`GET ${path}`, { method: 'GET', path });
      }
      if (m.uri === undefined && method !== 'GET') lines.set(`${method} /`, { method, path: '/' });
      const c = conditionsOf(m);
      if (c !== undefined) conds.set(JSON.stringify(c), c);
    }
  }
  const out: SampleRequest[] = [];
  for (const line of lines.values()) {
    for (const c of conds.values()) {
      if (out.length >= limit) return out;
      out.push({ ...line, headers: { ...c.headers }, query: { ...c.query } });
    }
  }
  return out;
}
