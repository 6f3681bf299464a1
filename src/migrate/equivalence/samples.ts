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
    return [p, `${base}/x`, `${base}x`];
  }
  const v = uri.regex === undefined ? undefined : fromRegex(uri.regex);
  return v === undefined ? [] : [v];
}

function requestFor(m: VsMatch, withConditions: boolean): SampleRequest | undefined {
  const path = m.uri === undefined ? '/' : pathsFor(m.uri)[0];
  if (path === undefined) return undefined;
  const req: SampleRequest = { method: m.method?.exact ?? 'GET', path, headers: {}, query: {} };
  if (!withConditions) return req;
  for (const [k, sm] of Object.entries(m.headers ?? {})) {
    if (k.startsWith(':')) continue;
    const v = sampleValue(sm);
    if (v === undefined) return undefined;
    req.headers[k.toLowerCase()] = v;
  }
  for (const [k, sm] of Object.entries(m.queryParams ?? {})) {
    const v = sampleValue(sm);
    if (v === undefined) return undefined;
    req.query[k] = v;
  }
  return req;
}

export function sampleKey(r: SampleRequest): string {
  const q = Object.entries(r.query).map(([k, v]) => `${k}=${v}`).join('&');
  const h = Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`).join('; ');
  return `${r.method} ${r.path}${q ? `?${q}` : ''}${h ? ` [${h}]` : ''}`;
}

/** At most `limit` samples (default 64), in a stable order. */
export function samplesFor(http: readonly VsHttpRoute[], limit = 64): SampleRequest[] {
  const out = new Map<string, SampleRequest>();
  const push = (r: SampleRequest | undefined) => {
    if (r !== undefined && out.size < limit && !out.has(sampleKey(r))) out.set(sampleKey(r), r);
  };
  push({ method: 'GET', path: '/', headers: {}, query: {} });
  for (const rule of http) {
    for (const m of rule.match ?? []) {
      push(requestFor(m, true));
      push(requestFor(m, false));
      const full = requestFor(m, true);
      for (const path of pathsFor(m.uri).slice(1)) {
        push({ method: 'GET', path, headers: {}, query: {} });
        if (full !== undefined) push({ ...full, path });
      }
    }
  }
  return [...out.values()];
}
