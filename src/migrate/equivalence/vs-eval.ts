/**
 * Evaluates Istio VirtualService http rules for one request: the first rule
 * (in list order) with a matching `match` entry wins, as in Envoy's route table
 * built by istiod.
 */
import type { Resolve } from '../convert/rules.js';
import type { StringMatch, VsHttpRoute, VsMatch } from '../shapes.js';
import { type Evaluation, fullMatch, type SampleRequest, weighted } from './types.js';

function stringMatches(sm: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (sm.exact !== undefined) return value === sm.exact;
  if (sm.prefix !== undefined) return value.startsWith(sm.prefix);
  if (sm.regex !== undefined) return fullMatch(sm.regex, value);
  return true; // {} only requires presence
}

function matchOne(
  m: VsMatch,
  req: SampleRequest,
  vsGateways: readonly string[] | undefined,
): boolean {
  const gws = m.gateways ?? vsGateways;
  if (gws !== undefined && gws.length > 0 && !gws.includes('mesh')) return false;
  if (m.uri !== undefined) {
    const path = m.ignoreUriCase === true ? req.path.toLowerCase() : req.path;
    const uri = m.ignoreUriCase === true ? lower(m.uri) : m.uri;
    if (!stringMatches(uri, path)) return false;
  }
  if (m.method !== undefined && !stringMatches(m.method, req.method)) return false;
  for (const [k, sm] of Object.entries(m.headers ?? {})) {
    if (!stringMatches(sm, req.headers[k.toLowerCase()])) return false;
  }
  for (const [k, sm] of Object.entries(m.withoutHeaders ?? {})) {
    if (stringMatches(sm, req.headers[k.toLowerCase()])) return false;
  }
  for (const [k, sm] of Object.entries(m.queryParams ?? {})) {
    if (!stringMatches(sm, req.query[k])) return false;
  }
  return true;
}

function lower(sm: StringMatch): StringMatch {
  return {
    ...(sm.exact === undefined ? {} : { exact: sm.exact.toLowerCase() }),
    ...(sm.prefix === undefined ? {} : { prefix: sm.prefix.toLowerCase() }),
    ...(sm.regex === undefined ? {} : { regex: sm.regex }),
  };
}

/** `host` is the authority the client used (for redirect locations). */
export function evaluateVirtualService(
  http: readonly VsHttpRoute[],
  req: SampleRequest,
  resolve: Resolve,
  host: string,
  vsGateways?: readonly string[],
): Evaluation {
  for (const [i, rule] of http.entries()) {
    const matches = rule.match ?? [];
    if (matches.length > 0 && !matches.some((m) => matchOne(m, req, vsGateways))) continue;
    const via = `http[${i}]`;
    if (rule.redirect !== undefined) {
      const r = rule.redirect;
      const port = r.port === undefined ? '' : `:${r.port}`;
      const location = `${r.scheme ?? 'http'}://${r.authority ?? host}${port}${r.uri ?? req.path}`;
      return { outcome: { kind: 'redirect', status: r.redirectCode ?? 301, location }, via };
    }
    if (rule.directResponse !== undefined) {
      return { outcome: { kind: 'status', status: rule.directResponse.status }, via };
    }
    const dests = rule.route ?? [];
    const anyWeight = dests.some((d) => d.weight !== undefined);
    const outcome = weighted(
      dests.map((d) => ({
        name: qualified(resolve(d.destination)),
        weight: dests.length === 1 ? 1 : anyWeight ? (d.weight ?? 0) : 1,
      })),
    );
    return { outcome, via };
  }
  return { outcome: { kind: 'status', status: 404 }, via: 'no match' };
}

export function qualified(d: { namespace: string; name: string }): string {
  return `${d.namespace}/${d.name}`;
}
