/**
 * The typed resource model: one discriminated union over every kind ambit
 * understands, and `parseResource` from a raw object (YAML or API server) to
 * it. Kinds are keyed by API group + kind, so Istio's own
 * `networking.istio.io` Gateway is not mistaken for a Gateway API Gateway.
 */
import type { z } from 'zod';
import { AmbitError } from '../core/errors.js';
import { KubeErrors } from './errors.js';
import type { ObjectMeta } from './schema/common.js';
import {
  deploymentSchema,
  namespaceSchema,
  podSchema,
  serviceAccountSchema,
  serviceSchema,
} from './schema/core.js';
import { gatewaySchema, grpcRouteSchema, httpRouteSchema } from './schema/gateway.js';
import {
  backendPolicySchema,
  destinationRuleSchema,
  rateLimitPolicySchema,
} from './schema/policy.js';
import { authorizationPolicySchema, peerAuthenticationSchema } from './schema/security.js';

/** Metadata after normalisation: namespace is '' for cluster-scoped kinds, else set. */
export type Meta = ObjectMeta & { namespace: string };
type Normalised<T extends { metadata: ObjectMeta }> = Omit<T, 'metadata'> & { metadata: Meta };

export type Namespace = Normalised<z.output<typeof namespaceSchema>>;
export type ServiceAccount = Normalised<z.output<typeof serviceAccountSchema>>;
export type Pod = Normalised<z.output<typeof podSchema>>;
export type Deployment = Normalised<z.output<typeof deploymentSchema>>;
export type Service = Normalised<z.output<typeof serviceSchema>>;
export type AuthorizationPolicy = Normalised<z.output<typeof authorizationPolicySchema>>;
export type PeerAuthentication = Normalised<z.output<typeof peerAuthenticationSchema>>;
export type Gateway = Normalised<z.output<typeof gatewaySchema>>;
export type HTTPRoute = Normalised<z.output<typeof httpRouteSchema>>;
export type GRPCRoute = Normalised<z.output<typeof grpcRouteSchema>>;
export type BackendPolicy = Normalised<z.output<typeof backendPolicySchema>>;
export type RateLimitPolicy = Normalised<z.output<typeof rateLimitPolicySchema>>;
export type DestinationRule = Normalised<z.output<typeof destinationRuleSchema>>;

export type Resource =
  | Namespace
  | ServiceAccount
  | Pod
  | Deployment
  | Service
  | AuthorizationPolicy
  | PeerAuthentication
  | Gateway
  | HTTPRoute
  | GRPCRoute
  | BackendPolicy
  | RateLimitPolicy
  | DestinationRule;

export type ResourceKind = Resource['kind'];
/** The resource of one kind: `ResourceOf<'Pod'>` is `Pod`. */
export type ResourceOf<K extends ResourceKind> = Extract<Resource, { kind: K }>;

interface KindInfo {
  schema: z.ZodType;
  namespaced: boolean;
}

/** `<group>/<Kind>` → schema. The core group is ''. */
const KINDS: ReadonlyMap<string, KindInfo> = new Map([
  ['/Namespace', { schema: namespaceSchema, namespaced: false }],
  ['/ServiceAccount', { schema: serviceAccountSchema, namespaced: true }],
  ['/Pod', { schema: podSchema, namespaced: true }],
  ['/Service', { schema: serviceSchema, namespaced: true }],
  ['apps/Deployment', { schema: deploymentSchema, namespaced: true }],
  [
    'security.istio.io/AuthorizationPolicy',
    { schema: authorizationPolicySchema, namespaced: true },
  ],
  ['security.istio.io/PeerAuthentication', { schema: peerAuthenticationSchema, namespaced: true }],
  ['gateway.networking.k8s.io/Gateway', { schema: gatewaySchema, namespaced: true }],
  ['gateway.networking.k8s.io/HTTPRoute', { schema: httpRouteSchema, namespaced: true }],
  ['gateway.networking.k8s.io/GRPCRoute', { schema: grpcRouteSchema, namespaced: true }],
  ['policy.ambit.dev/BackendPolicy', { schema: backendPolicySchema, namespaced: true }],
  ['policy.ambit.dev/RateLimitPolicy', { schema: rateLimitPolicySchema, namespaced: true }],
  ['networking.istio.io/DestinationRule', { schema: destinationRuleSchema, namespaced: true }],
]);

/** The kinds ambit understands, as `group/Kind` ('' = core group). */
export const KNOWN_KINDS: readonly string[] = [...KINDS.keys()];

export type ParseResult = { ok: Resource } | { error: AmbitError } | { ignored: 'unknown kind' };

export interface ParseOptions {
  /** Namespace for namespaced objects that name none. Default `default` (as kubectl). */
  defaultNamespace?: string;
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** `Kind ns/name` (or `Kind name` for cluster-scoped kinds) for messages. */
export function describeResource(kind: string, namespace: string, name: string): string {
  return namespace === '' ? `${kind} ${name}` : `${kind} ${namespace}/${name}`;
}

/** Store key of a resource: `Kind/namespace/name`. */
export function resourceKey(r: { kind: string; metadata: { namespace: string; name: string } }) {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(object)' : out;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    return 'is required';
  }
  return issue.message;
}

/**
 * Validates and normalises one raw object. Unknown kinds are `ignored`, not
 * errors: manifest directories commonly hold ConfigMaps, RBAC and the like.
 */
export function parseResource(raw: unknown, options: ParseOptions = {}): ParseResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      error: invalid('object', 'is not a Kubernetes object', {
        ref: { kind: '', namespace: '', name: '' },
      }),
    };
  }
  const obj = raw as Record<string, unknown>;
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const info = KINDS.get(`${groupOf(apiVersion)}/${kind}`);
  if (!info) return { ignored: 'unknown kind' };

  const meta = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : {}) as {
    name?: unknown;
    namespace?: unknown;
  };
  const namespace = info.namespaced
    ? typeof meta.namespace === 'string' && meta.namespace !== ''
      ? meta.namespace
      : (options.defaultNamespace ?? 'default')
    : '';
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : '<unnamed>';
  const what = describeResource(kind, namespace, name);

  if (!info.namespaced && typeof meta.namespace === 'string' && meta.namespace !== '') {
    return {
      error: invalid(what, 'metadata.namespace: must be empty for a cluster-scoped kind', {
        ref: { kind, namespace, name },
      }),
    };
  }
  const parsed = info.schema.safeParse(obj);
  if (!parsed.success) {
    const reasons = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${issuePath(i.path)}: ${issueMessage(i)}`);
    return {
      error: invalid(what, reasons.join('; '), {
        ref: { kind, namespace, name },
        issues: parsed.error.issues.map((i) => ({ path: issuePath(i.path), message: i.message })),
      }),
    };
  }
  const value = parsed.data as Resource;
  value.metadata.namespace = namespace;
  return { ok: value };
}

function invalid(what: string, reason: string, details?: Record<string, unknown>): AmbitError {
  return new AmbitError(KubeErrors.RESOURCE_INVALID, `${what}: ${reason}`, {
    details: { resource: what, ...details },
  });
}
