/**
 * The waypoint's domain model: the pushed protobuf compiled once (regexes
 * built, defaults filled, bigints turned into numbers) so the request path
 * never re-parses configuration. Everything here is immutable after build.
 */
import type { CompiledPolicy } from './authz.js';
import type { CorsPolicy } from './cors.js';

/** `"<namespace>/<hostname>"`, the resource name of both pushed types. */
export type ServiceKey = string;

export interface ValueMatcher {
  /** Lowercase for headers; as written for query params. */
  readonly name: string;
  readonly value: string;
  /** Set for RegularExpression matches (anchored: full match). */
  readonly regex?: RegExp;
}

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';

export interface CompiledMatch {
  readonly pathType: PathMatchType;
  /** For PathPrefix: without a trailing slash ("" for "/"). */
  readonly path: string;
  readonly pathRegex?: RegExp;
  readonly headers: readonly ValueMatcher[];
  readonly query: readonly ValueMatcher[];
  /** Undefined = any method. */
  readonly method?: string;
  /**
   * A GRPCRoute rule's: matches gRPC requests only (content-type
   * application/grpc*), and keeps its pushed place ahead of HTTPRoute rules.
   */
  readonly grpc?: boolean;
}

export interface HeaderModifier {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

export type PathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly value: string }
  | { readonly type: 'ReplacePrefixMatch'; readonly value: string };

export type RouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly modifier: HeaderModifier }
  | { readonly type: 'CORS'; readonly policy: CorsPolicy }
  | { readonly type: 'ResponseHeaderModifier'; readonly modifier: HeaderModifier }
  | {
      readonly type: 'RequestRedirect';
      readonly scheme?: string;
      readonly hostname?: string;
      readonly port?: number;
      readonly path?: PathModifier;
      /** Default 302. */
      readonly statusCode: number;
    }
  | { readonly type: 'URLRewrite'; readonly hostname?: string; readonly path?: PathModifier }
  | {
      readonly type: 'RequestMirror';
      readonly service: ServiceKey;
      readonly port: number;
      /** 0..100. */
      readonly percent: number;
    };

export interface Backend {
  readonly service: ServiceKey;
  readonly port: number;
  readonly weight: number;
  readonly filters: readonly RouteFilter[];
  /** Set when the backendRef is unresolvable: its share of requests gets 500. */
  readonly invalidReason?: string;
}

export interface RetryConfig {
  /** Status codes that are retried. */
  readonly codes: ReadonlySet<number>;
  /** Retries after the first attempt. */
  readonly attempts: number;
  /** Base backoff between attempts, ms. */
  readonly backoffMs: number;
}

export type LoadBalancerType = 'RoundRobin' | 'LeastRequest';

/** Connection limits, outlier detection and LB; undefined fields are off / defaults. */
export interface BackendTraffic {
  readonly maxConnections?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutiveConnectFailures?: number;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
  readonly loadBalancer: LoadBalancerType;
  /** `"<ns>/<name>"` of the DestinationRule / BackendPolicies merged into this (config dump). */
  readonly sources?: readonly string[];
}

export interface RateLimitConfig {
  /** Tokens added per interval. */
  readonly requests: number;
  readonly intervalMs: number;
  /** Bucket size. */
  readonly burst: number;
  readonly perSourceIdentity: boolean;
  /** `"<ns>/<name>"` of the RateLimitPolicy. */
  readonly source: string;
}

export interface CompiledRoute {
  /** `"<ns>/<route>#<ruleIndex>"`, the key for per-route state (rate-limit buckets). */
  readonly id: string;
  readonly route: string;
  readonly ruleIndex: number;
  readonly ruleName: string;
  /** Undefined = every port. */
  readonly ports?: ReadonlySet<number>;
  readonly match: CompiledMatch;
  readonly filters: readonly RouteFilter[];
  readonly backends: readonly Backend[];
  readonly totalWeight: number;
  /** 0 = none. */
  readonly requestTimeoutMs: number;
  /** 0 = none. */
  readonly backendRequestTimeoutMs: number;
  readonly retry?: RetryConfig;
  /**
   * Route-level settings (a BackendPolicy targeting the HTTPRoute); merged at
   * request time over the chosen backend Service's own settings.
   */
  readonly backend?: BackendTraffic;
  readonly rateLimit?: RateLimitConfig;
}

export interface ServicePortInfo {
  readonly port: number;
  readonly name: string;
  /** "http", "grpc", "tcp", … */
  readonly appProtocol: string;
}

export interface ServiceConfig {
  readonly key: ServiceKey;
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly waypoint: string;
  /** Set for a workload-addressed entry (a waypoint-for workload|all): the workload uid. */
  readonly workload?: string;
  /** VIPs, canonical text (a workload entry: the workload's IPs). */
  readonly vips: readonly string[];
  readonly ports: ReadonlyMap<number, ServicePortInfo>;
  /** Precedence order: the first match wins. */
  readonly routes: readonly CompiledRoute[];
  readonly policies: readonly CompiledPolicy[];
  readonly backend?: BackendTraffic;
  readonly rateLimit?: RateLimitConfig;
}

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

export interface EndpointInfo {
  readonly uid: string;
  /** Textual IP. */
  readonly address: string;
  /** Service port → target port. */
  readonly ports: ReadonlyMap<number, number>;
  /** A workload-addressed endpoint: serves every port as dialled (`ports` is empty). */
  readonly allPorts?: boolean;
  readonly identity: string;
  readonly hbone: boolean;
  readonly healthy: boolean;
  readonly node: string;
  readonly locality: Locality;
}

export interface ServiceEndpointsConfig {
  readonly key: ServiceKey;
  readonly endpoints: readonly EndpointInfo[];
  /** The Service's own resilience settings as a backend (DestinationRule / BackendPolicy). */
  readonly backend?: BackendTraffic;
}
