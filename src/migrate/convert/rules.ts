/**
 * One VirtualService http rule → one HTTPRoute rule, with a finding for every
 * feature seen (exact, approximate, or not converted).
 */
import { parseDuration } from '../../core/duration.js';
import type { FeatureId } from '../features.js';
import type { StringMatch, VsDestination, VsHeaderOps, VsHttpRoute, VsMatch } from '../shapes.js';
import {
  type BackendRef,
  escapeRegex,
  GW_METHODS,
  type GwFilter,
  type GwMatch,
  type GwRule,
  gwDuration,
  type HeaderModifier,
  type ValueMatch,
} from './gw.js';

export interface ResolvedDestination {
  namespace: string;
  name: string;
  port?: number;
  group?: string;
  kind?: string;
}

export type Resolve = (dest: VsDestination) => ResolvedDestination;

export interface RuleNote {
  id: FeatureId;
  detail: string;
}

export interface RuleResult {
  /** Undefined when the rule cannot be expressed at all (or is for ingress gateways only). */
  rule?: GwRule;
  notes: RuleNote[];
}

/** Whether a match applies to mesh traffic (no gateways, or "mesh" among them). */
export function meshMatch(m: VsMatch, vsGateways: readonly string[] | undefined): boolean {
  const gws = m.gateways ?? vsGateways;
  return gws === undefined || gws.length === 0 || gws.includes('mesh');
}

function valueMatch(name: string, sm: StringMatch): ValueMatch {
  if (sm.exact !== undefined) return { type: 'Exact', name, value: sm.exact };
  if (sm.prefix !== undefined)
    return { type: 'RegularExpression', name, value: `${escapeRegex(sm.prefix)}.*` };
  if (sm.regex !== undefined) return { type: 'RegularExpression', name, value: sm.regex };
  return { type: 'RegularExpression', name, value: '.*' }; // {} means "present"
}

function convertMatch(m: VsMatch, label: string, notes: RuleNote[]): GwMatch {
  const out: GwMatch = {};
  const uri = m.uri;
  if (uri?.exact !== undefined) {
    out.path = { type: 'Exact', value: uri.exact };
    notes.push({ id: 'vs.match.uri.exact', detail: `${label}: uri exact "${uri.exact}"` });
  } else if (uri?.prefix !== undefined) {
    out.path = { type: 'PathPrefix', value: uri.prefix };
    const root = uri.prefix === '/';
    notes.push({
      id: root ? 'vs.match.uri.root' : 'vs.match.uri.prefix',
      detail: `${label}: uri prefix "${uri.prefix}"`,
    });
  } else if (uri?.regex !== undefined) {
    out.path = { type: 'RegularExpression', value: uri.regex };
    notes.push({ id: 'vs.match.uri.regex', detail: `${label}: uri regex "${uri.regex}"` });
  }
  const headers = Object.entries(m.headers ?? {}).filter(([k]) => !k.startsWith(':'));
  if (headers.length > 0) {
    out.headers = headers.map(([k, v]) => valueMatch(k.toLowerCase(), v));
    notes.push({
      id: 'vs.match.headers',
      detail: `${label}: headers ${headers.map(([k]) => k).join(', ')}`,
    });
  }
  const query = Object.entries(m.queryParams ?? {});
  if (query.length > 0) {
    out.queryParams = query.map(([k, v]) => valueMatch(k, v));
    notes.push({
      id: 'vs.match.queryParams',
      detail: `${label}: query ${query.map(([k]) => k).join(', ')}`,
    });
  }
  if (m.method !== undefined) {
    const exact = m.method.exact?.toUpperCase();
    if (exact !== undefined && GW_METHODS.has(exact)) {
      out.method = exact;
      notes.push({ id: 'vs.match.method', detail: `${label}: method ${exact}` });
    } else {
      notes.push({
        id: 'vs.match.method.pattern',
        detail: `${label}: method ${JSON.stringify(m.method)}`,
      });
    }
  }
  const unsupported: [boolean, FeatureId, string][] = [
    [
      m.withoutHeaders !== undefined,
      'vs.match.withoutHeaders',
      `withoutHeaders ${Object.keys(m.withoutHeaders ?? {}).join(', ')}`,
    ],
    [
      m.authority !== undefined || m.headers?.[':authority'] !== undefined,
      'vs.match.authority',
      'authority',
    ],
    [m.scheme !== undefined, 'vs.match.scheme', 'scheme'],
    [m.port !== undefined, 'vs.match.port', `port ${m.port}`],
    [m.ignoreUriCase === true, 'vs.match.ignoreUriCase', 'ignoreUriCase'],
    [
      m.sourceLabels !== undefined || m.sourceNamespace !== undefined,
      'vs.match.source',
      'source labels/namespace',
    ],
  ];
  for (const [present, id, what] of unsupported) {
    if (present) notes.push({ id, detail: `${label}: ${what} is dropped from the match` });
  }
  return out;
}

function headerModifier(ops: VsHeaderOps): HeaderModifier | undefined {
  const pairs = (r: Record<string, string> | undefined) =>
    Object.entries(r ?? {}).map(([name, value]) => ({ name, value }));
  const mod: HeaderModifier = {};
  if (ops.set !== undefined) mod.set = pairs(ops.set);
  if (ops.add !== undefined) mod.add = pairs(ops.add);
  if (ops.remove !== undefined) mod.remove = [...ops.remove];
  return Object.keys(mod).length > 0 ? mod : undefined;
}

function headerFilters(
  h: { request?: VsHeaderOps; response?: VsHeaderOps } | undefined,
): GwFilter[] {
  const out: GwFilter[] = [];
  const req = h?.request === undefined ? undefined : headerModifier(h.request);
  const res = h?.response === undefined ? undefined : headerModifier(h.response);
  if (req !== undefined) out.push({ type: 'RequestHeaderModifier', requestHeaderModifier: req });
  if (res !== undefined) out.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: res });
  return out;
}

function ref(d: ResolvedDestination, routeNs: string): Omit<BackendRef, 'weight' | 'filters'> {
  return {
    ...(d.group === undefined ? {} : { group: d.group }),
    ...(d.kind === undefined ? {} : { kind: d.kind }),
    name: d.name,
    ...(d.namespace === routeNs ? {} : { namespace: d.namespace }),
    ...(d.port === undefined ? {} : { port: d.port }),
  };
}

const RETRY_ON_CODES: Readonly<Record<string, number[]>> = {
  '5xx': [500, 502, 503, 504],
  'gateway-error': [502, 503, 504],
  'retriable-4xx': [409],
  unavailable: [503],
  'resource-exhausted': [429],
  'retriable-status-codes': [503],
};

function retryCodes(retryOn: string): { codes: number[]; lossy: string[] } {
  const codes = new Set<number>();
  const lossy: string[] = [];
  for (const raw of retryOn.split(',')) {
    const c = raw.trim();
    if (c === '') continue;
    if (/^\d{3}$/.test(c)) codes.add(Number(c));
    else if (RETRY_ON_CODES[c] !== undefined) for (const n of RETRY_ON_CODES[c]) codes.add(n);
    else lossy.push(c);
    if (c === '5xx') lossy.push('5xx (any 5xx and resets)');
  }
  return { codes: [...codes].sort((a, b) => a - b), lossy };
}

function duration(s: string): string {
  return gwDuration(parseDuration(s));
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/**
 * Istio's corsPolicy as the HTTPRoute CORS filter. Origins given exactly
 * (or `*`, or the regex `.*`) carry over; a prefix or other regex origin
 * has no Gateway API form and is dropped with a finding.
 */
function corsFilter(
  c: Record<string, unknown>,
  label: string,
  notes: RuleNote[],
): Extract<GwFilter, { type: 'CORS' }> {
  const origins: string[] = [];
  const matches = Array.isArray(c.allowOrigins)
    ? (c.allowOrigins as Record<string, unknown>[])
    : [];
  for (const m of matches) {
    if (typeof m.exact === 'string') origins.push(m.exact);
    else if (m.regex === '.*') origins.push('*');
    else
      notes.push({
        id: 'vs.cors.origin',
        detail: `${label}: origin ${JSON.stringify(m)} dropped`,
      });
  }
  // The deprecated list of exact origins.
  origins.push(...strings(c.allowOrigin));
  const cors: Extract<GwFilter, { type: 'CORS' }>['cors'] = {
    allowOrigins: origins.includes('*') ? ['*'] : [...new Set(origins)],
  };
  for (const k of ['allowMethods', 'allowHeaders', 'exposeHeaders'] as const) {
    const v = strings(c[k]);
    if (v.length > 0) cors[k] = v;
  }
  if (typeof c.allowCredentials === 'boolean') cors.allowCredentials = c.allowCredentials;
  if (typeof c.maxAge === 'string')
    cors.maxAge = Math.max(1, Math.ceil(parseDuration(c.maxAge) / 1000));
  notes.push({ id: 'vs.cors', detail: `${label}: CORS for ${cors.allowOrigins?.join(', ')}` });
  return { type: 'CORS', cors };
}

/** Converts one http rule. `label` names it in findings ("http[2]"). */
export function convertRule(
  rule: VsHttpRoute,
  label: string,
  routeNs: string,
  resolve: Resolve,
  vsGateways: readonly string[] | undefined,
): RuleResult {
  const notes: RuleNote[] = [];
  const allMatches = rule.match ?? [];
  const matches = allMatches.filter((m) => meshMatch(m, vsGateways));
  if (allMatches.length > 0 && matches.length === 0) {
    return { notes: [{ id: 'vs.gateways', detail: `${label} only applies to gateways` }] };
  }
  const out: GwRule = {};
  if (matches.length > 0)
    out.matches = matches.map((m, i) => convertMatch(m, `${label}.match[${i}]`, notes));

  if (rule.delegate !== undefined) notes.push({ id: 'vs.delegate', detail: `${label} delegates` });
  if (rule.directResponse !== undefined) {
    notes.push({
      id: 'vs.directResponse',
      detail: `${label} answers ${rule.directResponse.status}`,
    });
  }
  if (rule.delegate !== undefined || rule.directResponse !== undefined) return { notes };

  const filters: GwFilter[] = [...headerFilters(rule.headers)];
  if (filters.length > 0) notes.push({ id: 'vs.headers', detail: `${label} modifies headers` });

  if (rule.redirect !== undefined) {
    const r = rule.redirect;
    filters.push({
      type: 'RequestRedirect',
      requestRedirect: {
        ...(r.scheme === undefined ? {} : { scheme: r.scheme }),
        ...(r.authority === undefined ? {} : { hostname: r.authority }),
        ...(r.port === undefined ? {} : { port: r.port }),
        ...(r.uri === undefined
          ? {}
          : { path: { type: 'ReplaceFullPath', replaceFullPath: r.uri } }),
        statusCode: r.redirectCode ?? 301,
      },
    });
    notes.push({ id: 'vs.redirect', detail: `${label} redirects (${r.redirectCode ?? 301})` });
    if (r.derivePort !== undefined)
      notes.push({ id: 'vs.redirect.derivePort', detail: `${label}: derivePort ${r.derivePort}` });
  }

  if (rule.rewrite !== undefined) {
    const rw = rule.rewrite;
    const urlRewrite: Extract<GwFilter, { type: 'URLRewrite' }>['urlRewrite'] = {};
    if (rw.authority !== undefined) {
      urlRewrite.hostname = rw.authority;
      notes.push({
        id: 'vs.rewrite.authority',
        detail: `${label} rewrites authority to ${rw.authority}`,
      });
    }
    if (rw.uri !== undefined) {
      const kinds = new Set((out.matches ?? []).map((m) => m.path?.type));
      if (kinds.size === 1 && kinds.has('PathPrefix')) {
        urlRewrite.path = { type: 'ReplacePrefixMatch', replacePrefixMatch: rw.uri };
        notes.push({ id: 'vs.rewrite.uri', detail: `${label} rewrites the prefix to ${rw.uri}` });
      } else if (kinds.size === 1 && kinds.has('Exact')) {
        urlRewrite.path = { type: 'ReplaceFullPath', replaceFullPath: rw.uri };
        notes.push({ id: 'vs.rewrite.uri', detail: `${label} rewrites the path to ${rw.uri}` });
      } else {
        notes.push({
          id: 'vs.rewrite.uri.other',
          detail: `${label} rewrites uri to ${rw.uri} without one prefix/exact match kind`,
        });
      }
    }
    if (rw.uriRegexRewrite !== undefined) {
      notes.push({
        id: 'vs.rewrite.regex',
        detail: `${label}: ${rw.uriRegexRewrite.match ?? ''} → ${rw.uriRegexRewrite.rewrite ?? ''}`,
      });
    }
    if (Object.keys(urlRewrite).length > 0) filters.push({ type: 'URLRewrite', urlRewrite });
  }

  const mirrors = [
    ...(rule.mirror === undefined
      ? []
      : [{ destination: rule.mirror, percentage: rule.mirrorPercentage }]),
    ...(rule.mirrors ?? []),
  ];
  for (const m of mirrors) {
    const pct = m.percentage?.value ?? 100;
    if (pct < 100) {
      notes.push({
        id: 'vs.mirror.percentage',
        detail: `${label}: mirror to ${m.destination.host} at ${pct}% dropped`,
      });
      continue;
    }
    filters.push({
      type: 'RequestMirror',
      requestMirror: { backendRef: ref(resolve(m.destination), routeNs) },
    });
    notes.push({ id: 'vs.mirror', detail: `${label} mirrors to ${m.destination.host}` });
  }
  if (rule.corsPolicy !== undefined) filters.push(corsFilter(rule.corsPolicy, label, notes));
  if (filters.length > 0) out.filters = filters;

  if (rule.redirect === undefined) {
    const dests = rule.route ?? [];
    const weighted = dests.some((d) => d.weight !== undefined) && dests.length > 1;
    out.backendRefs = dests.map((d) => {
      const r = resolve(d.destination);
      if (d.destination.subset !== undefined) {
        notes.push({
          id: 'vs.route.subset',
          detail: `${label}: ${d.destination.host} subset ${d.destination.subset} → Service ${r.name}`,
        });
      }
      if (r.namespace !== routeNs) {
        notes.push({
          id: 'vs.route.crossNamespace',
          detail: `${label}: backend ${r.namespace}/${r.name}`,
        });
      }
      const bf = headerFilters(d.headers);
      if (bf.length > 0)
        notes.push({
          id: 'vs.route.headers',
          detail: `${label}: headers for ${d.destination.host}`,
        });
      return {
        ...ref(r, routeNs),
        ...(weighted ? { weight: d.weight ?? 0 } : {}),
        ...(bf.length > 0 ? { filters: bf } : {}),
      };
    });
    if (weighted)
      notes.push({
        id: 'vs.route.weights',
        detail: `${label}: ${dests.map((d) => d.weight ?? 0).join('/')}`,
      });
  }

  if (rule.timeout !== undefined) {
    out.timeouts = { request: duration(rule.timeout) };
    notes.push({ id: 'vs.timeout', detail: `${label}: ${rule.timeout}` });
  }
  if (rule.retries !== undefined) {
    const rt = rule.retries;
    out.retry = { attempts: rt.attempts ?? 2 };
    if (rt.perTryTimeout !== undefined) {
      out.timeouts = { ...out.timeouts, backendRequest: duration(rt.perTryTimeout) };
    }
    notes.push({
      id: 'vs.retries',
      detail: `${label}: ${rt.attempts ?? 2} attempts${rt.perTryTimeout ? `, ${rt.perTryTimeout} per try` : ''}`,
    });
    if (rt.retryOn !== undefined) {
      const { codes, lossy } = retryCodes(rt.retryOn);
      if (codes.length > 0) out.retry.codes = codes;
      if (lossy.length > 0) {
        notes.push({
          id: 'vs.retries.retryOn',
          detail: `${label}: retryOn "${rt.retryOn}" → codes [${codes.join(',')}]; ${lossy.join(', ')} approximated`,
        });
      }
    }
  }
  if (rule.fault !== undefined) {
    const what = [
      rule.fault.delay ? `delay ${rule.fault.delay.fixedDelay ?? ''}` : '',
      rule.fault.abort
        ? `abort ${rule.fault.abort.httpStatus ?? rule.fault.abort.grpcStatus ?? ''}`
        : '',
    ]
      .filter((s) => s !== '')
      .join(', ');
    notes.push({ id: 'vs.fault', detail: `${label}: ${what} (not converted)` });
  }

  return { rule: out, notes };
}
