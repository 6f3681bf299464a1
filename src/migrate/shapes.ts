/**
 * The parts of Istio and Kubernetes objects that migrate reads. Inputs are
 * validated against the published typed models first (see models.ts), so these
 * narrow views only describe fields, they do not re-check them.
 */

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface Meta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface IstioPercent {
  value?: number;
}

export interface VsDestination {
  host: string;
  subset?: string;
  port?: { number?: number };
}

export interface VsRouteDestination {
  destination: VsDestination;
  weight?: number;
  headers?: VsHeaders;
}

export interface VsHeaderOps {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface VsHeaders {
  request?: VsHeaderOps;
  response?: VsHeaderOps;
}

export interface VsMatch {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways?: string[];
  ignoreUriCase?: boolean;
}

export interface VsHttpRoute {
  name?: string;
  match?: VsMatch[];
  route?: VsRouteDestination[];
  redirect?: {
    uri?: string;
    authority?: string;
    port?: number;
    derivePort?: string;
    scheme?: string;
    redirectCode?: number;
  };
  directResponse?: { status: number };
  delegate?: { name?: string; namespace?: string };
  rewrite?: {
    uri?: string;
    authority?: string;
    uriRegexRewrite?: { match?: string; rewrite?: string };
  };
  timeout?: string;
  retries?: {
    attempts?: number;
    perTryTimeout?: string;
    retryOn?: string;
    retryRemoteLocalities?: boolean;
  };
  fault?: {
    delay?: { fixedDelay?: string; percentage?: IstioPercent };
    abort?: { httpStatus?: number; grpcStatus?: string; percentage?: IstioPercent };
  };
  mirror?: VsDestination;
  mirrors?: { destination: VsDestination; percentage?: IstioPercent }[];
  mirrorPercentage?: IstioPercent;
  corsPolicy?: Record<string, unknown>;
  headers?: VsHeaders;
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  exportTo?: string[];
  http?: VsHttpRoute[];
  tcp?: unknown[];
  tls?: unknown[];
}

export interface TrafficPolicy {
  connectionPool?: {
    tcp?: Record<string, unknown> & { maxConnections?: number };
    http?: Record<string, unknown> & {
      http1MaxPendingRequests?: number;
      http2MaxRequests?: number;
    };
  };
  outlierDetection?: Record<string, unknown> & {
    consecutive5xxErrors?: number;
    consecutiveGatewayErrors?: number;
    consecutiveLocalOriginFailures?: number;
    interval?: string;
    baseEjectionTime?: string;
    maxEjectionPercent?: number;
    minHealthPercent?: number;
  };
  loadBalancer?: {
    simple?: string;
    consistentHash?: unknown;
    localityLbSetting?: unknown;
    warmupDurationSecs?: string;
    warmup?: unknown;
  };
  tls?: { mode?: string };
  portLevelSettings?: unknown[];
}

export interface DestinationRuleSpec {
  host?: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: { name: string; labels?: Record<string, string>; trafficPolicy?: TrafficPolicy }[];
  exportTo?: string[];
}

export interface EnvoyFilterSpec {
  workloadSelector?: { labels?: Record<string, string> };
  targetRefs?: unknown[];
  configPatches?: {
    applyTo?: string;
    match?: {
      context?: string;
      listener?: unknown;
      routeConfiguration?: unknown;
      cluster?: unknown;
    };
    patch?: { operation?: string; value?: Record<string, unknown> };
  }[];
}

export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: unknown;
  targetRefs?: unknown[];
  action?: string;
  provider?: { name?: string };
  rules?: {
    from?: { source?: Record<string, unknown> }[];
    to?: { operation?: Record<string, unknown> }[];
    when?: { key: string; values?: string[]; notValues?: string[] }[];
  }[];
}

export interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: string };
  portLevelMtls?: Record<string, { mode?: string }>;
}

export interface ContainerShape {
  name: string;
  command?: string[];
  args?: string[];
  resources?: {
    requests?: Record<string, string | number>;
    limits?: Record<string, string | number>;
  };
  livenessProbe?: Record<string, unknown>;
  readinessProbe?: Record<string, unknown>;
  startupProbe?: Record<string, unknown>;
}

export interface PodTemplateShape {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    containers?: ContainerShape[];
    initContainers?: ContainerShape[];
    hostNetwork?: boolean;
    serviceAccountName?: string;
  };
}

export interface ServicePortShape {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

export interface ServiceSpecShape {
  selector?: Record<string, string>;
  ports?: ServicePortShape[];
  type?: string;
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicyPort {
  port?: number | string;
  endPort?: number;
  protocol?: string;
}

export interface NetworkPolicyRule {
  from?: NetworkPolicyPeer[];
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  podSelector?: LabelSelector;
  policyTypes?: string[];
  ingress?: NetworkPolicyRule[];
  egress?: NetworkPolicyRule[];
}
