/**
 * L7 AuthorizationPolicy with Istio semantics, evaluated per request in the
 * waypoint: CUSTOM (no ext_authz provider in ambit: fail closed), then DENY,
 * then ALLOW (if any ALLOW policy applies, one must match). AUDIT and
 * dry-run policies only log. Strings keep Istio's syntax: `*` any, `x*`
 * prefix, `*x` suffix; principals are compared without `spiffe://`.
 */
import { BlockList, isIPv6 } from 'node:net';
import {
  type AuthorizationCondition,
  type AuthorizationOperation,
  type AuthorizationPolicy,
  AuthorizationPolicy_Action,
  type AuthorizationRule,
  type AuthorizationSource,
} from '../gen/ambit/waypoint_pb.js';

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** What the waypoint knows about a request when authorizing it. */
export interface AuthzRequest {
  /** Peer SPIFFE ID from the HBONE tunnel (with or without `spiffe://`); undefined = plaintext. */
  readonly principal?: string;
  readonly sourceIp: string;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly host: string;
  readonly port: number;
  /** Lowercase names. */
  readonly headers: (name: string) => string | undefined;
}

type Pred = (r: Ctx) => boolean;

interface Ctx extends AuthzRequest {
  readonly principalNoScheme: string | undefined;
  readonly namespace: string | undefined;
  readonly serviceAccount: string | undefined;
}

export interface CompiledPolicy {
  readonly name: string;
  readonly namespace: string;
  readonly action: AuthzAction;
  readonly dryRun: boolean;
  readonly rules: readonly Pred[];
}

export type AuthzDecision =
  | { readonly allowed: true; readonly audit: readonly string[] }
  | { readonly allowed: false; readonly policy?: string; readonly audit: readonly string[] };

/** Istio string match: exact, `*`, `x*` prefix, `*x` suffix. */
export function istioMatch(pattern: string, value: string | undefined, ci = false): boolean {
  if (value === undefined) return false;
  const p = ci ? pattern.toLowerCase() : pattern;
  const v = ci ? value.toLowerCase() : value;
  if (p === '*') return true;
  if (p.endsWith('*')) return v.startsWith(p.slice(0, -1));
  if (p.startsWith('*')) return v.endsWith(p.slice(1));
  return p === v;
}

function list(
  values: readonly string[],
  get: (c: Ctx) => string | undefined,
  ci = false,
): Pred | undefined {
  if (values.length === 0) return undefined;
  const pats = [...values];
  return (c) => pats.some((p) => istioMatch(p, get(c), ci));
}

function not(p: Pred | undefined): Pred | undefined {
  return p === undefined ? undefined : (c) => !p(c);
}

function cidrs(values: readonly string[]): Pred | undefined {
  if (values.length === 0) return undefined;
  const bl = new BlockList();
  for (const v of values) {
    const [ip = '', len] = v.split('/');
    const type = isIPv6(ip) ? 'ipv6' : 'ipv4';
    if (len === undefined) bl.addAddress(ip, type);
    else bl.addSubnet(ip, Number(len), type);
  }
  return (c) => bl.check(c.sourceIp, isIPv6(c.sourceIp) ? 'ipv6' : 'ipv4');
}

function all(preds: readonly (Pred | undefined)[]): Pred {
  const ps = preds.filter((p): p is Pred => p !== undefined);
  return (c) => ps.every((p) => p(c));
}

function anyOf(preds: readonly Pred[]): Pred | undefined {
  if (preds.length === 0) return undefined;
  return (c) => preds.some((p) => p(c));
}

const none = (): undefined => undefined;

function source(s: AuthorizationSource): Pred {
  const principal = (c: Ctx) => c.principalNoScheme;
  const ns = (c: Ctx) => c.namespace;
  const sa = (c: Ctx) => c.serviceAccount;
  return all([
    list(s.principals, principal),
    not(list(s.notPrincipals, principal)),
    // No RequestAuthentication (JWT) yet: there is never a request principal.
    list(s.requestPrincipals, none),
    not(list(s.notRequestPrincipals, none)),
    list(s.namespaces, ns),
    not(list(s.notNamespaces, ns)),
    list(s.serviceAccounts, sa),
    not(list(s.notServiceAccounts, sa)),
    cidrs(s.ipBlocks),
    not(cidrs(s.notIpBlocks)),
    // No trusted X-Forwarded-For handling yet: the remote IP is the peer IP.
    cidrs(s.remoteIpBlocks),
    not(cidrs(s.notRemoteIpBlocks)),
  ]);
}

function ports(values: readonly number[]): Pred | undefined {
  if (values.length === 0) return undefined;
  const set = new Set(values);
  return (c) => set.has(c.port);
}

function operation(o: AuthorizationOperation): Pred {
  const host = (c: Ctx) => c.host;
  const path = (c: Ctx) => c.path;
  const method = (c: Ctx) => c.method;
  return all([
    list(o.hosts, host, true),
    not(list(o.notHosts, host, true)),
    ports(o.ports),
    not(ports(o.notPorts)),
    list(o.methods, method),
    not(list(o.notMethods, method)),
    list(o.paths, path),
    not(list(o.notPaths, path)),
  ]);
}

function conditionValue(key: string): ((c: Ctx) => string | undefined) | undefined {
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header?.[1] !== undefined) {
    const name = header[1].toLowerCase();
    return (c) => c.headers(name);
  }
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
      return (c) => c.sourceIp;
    case 'source.namespace':
      return (c) => c.namespace;
    case 'source.principal':
      return (c) => c.principalNoScheme;
    case 'destination.port':
      return (c) => String(c.port);
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
      return none;
    default:
      return undefined;
  }
}

function condition(w: AuthorizationCondition): Pred {
  const get = conditionValue(w.key);
  // An unknown key never matches (an ALLOW rule using it grants nothing; a
  // DENY rule using it is rejected by the control plane's validation).
  if (get === undefined) return () => false;
  if (w.key === 'source.ip' || w.key === 'remote.ip') {
    return all([cidrs(w.values), not(cidrs(w.notValues))]);
  }
  return all([list(w.values, get), not(list(w.notValues, get))]);
}

function rule(r: AuthorizationRule): Pred {
  return all([anyOf(r.from.map(source)), anyOf(r.to.map(operation)), all(r.when.map(condition))]);
}

const ACTIONS: Record<AuthorizationPolicy_Action, AuthzAction> = {
  [AuthorizationPolicy_Action.ALLOW]: 'ALLOW',
  [AuthorizationPolicy_Action.DENY]: 'DENY',
  [AuthorizationPolicy_Action.AUDIT]: 'AUDIT',
  [AuthorizationPolicy_Action.CUSTOM]: 'CUSTOM',
};

/** Compiles one pushed policy. Throws on an invalid CIDR (caller NACKs). */
export function compilePolicy(p: AuthorizationPolicy): CompiledPolicy {
  const action = ACTIONS[p.action];
  if (action === undefined) throw new Error(`unknown action ${p.action}`);
  return {
    name: p.name,
    namespace: p.namespace,
    action,
    dryRun: p.dryRun,
    rules: p.rules.map(rule),
  };
}

function context(r: AuthzRequest): Ctx {
  const noScheme = r.principal?.startsWith('spiffe://') ? r.principal.slice(9) : r.principal;
  const m = noScheme === undefined ? null : /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(noScheme);
  return {
    ...r,
    principalNoScheme: noScheme,
    namespace: m?.[1],
    serviceAccount: m ? `${m[1]}/${m[2]}` : undefined,
  };
}

const matches = (p: CompiledPolicy, c: Ctx) => p.rules.some((r) => r(c));
const id = (p: CompiledPolicy) => `${p.namespace}/${p.name}`;

/** Istio order: CUSTOM, DENY, ALLOW. `audit` lists AUDIT and dry-run hits to log. */
export function authorizeRequest(
  policies: readonly CompiledPolicy[],
  req: AuthzRequest,
): AuthzDecision {
  const c = context(req);
  const audit: string[] = [];
  for (const p of policies) {
    if ((p.action === 'AUDIT' || p.dryRun) && matches(p, c)) audit.push(`${p.action}:${id(p)}`);
  }
  const enforced = policies.filter((p) => !p.dryRun);
  for (const action of ['CUSTOM', 'DENY'] as const) {
    const hit = enforced.find((p) => p.action === action && matches(p, c));
    if (hit) return { allowed: false, policy: id(hit), audit };
  }
  const allows = enforced.filter((p) => p.action === 'ALLOW');
  if (allows.length > 0 && !allows.some((p) => matches(p, c))) return { allowed: false, audit };
  return { allowed: true, audit };
}
