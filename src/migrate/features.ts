/**
 * The catalogue of sidecar-era features migrate recognises: for each, how it
 * carries over to ambient and what it means for the verdict. docs/migration.md
 * renders the same table; a test keeps every id documented there.
 */
import type { Item, Workload } from './inventory.js';
import type { Finding, JsonPatchOp, Severity, Support } from './types.js';

export interface FeatureSpec {
  readonly feature: string;
  readonly support: Support;
  readonly severity: Severity;
  readonly ambient: string;
}

function f(feature: string, support: Support, severity: Severity, ambient: string): FeatureSpec {
  return { feature, support, severity, ambient };
}

export const FEATURES = {
  // VirtualService
  'vs.match.uri.exact': f('uri exact match', 'exact', 'auto', 'HTTPRoute path match Exact'),
  'vs.match.uri.prefix': f(
    'uri prefix match',
    'approximate',
    'warning',
    'HTTPRoute PathPrefix matches whole path segments: Istio prefix "/api" also matched "/apiv2"',
  ),
  'vs.match.uri.root': f('uri prefix "/"', 'exact', 'auto', 'HTTPRoute PathPrefix "/"'),
  'vs.match.uri.regex': f(
    'uri regex match',
    'exact',
    'auto',
    'HTTPRoute path RegularExpression (RE2, full match)',
  ),
  'vs.match.headers': f(
    'header match',
    'exact',
    'auto',
    'HTTPRoute header match Exact, or RegularExpression for prefix/regex',
  ),
  'vs.match.queryParams': f(
    'query parameter match',
    'exact',
    'auto',
    'HTTPRoute queryParams Exact / RegularExpression',
  ),
  'vs.match.method': f('method match', 'exact', 'auto', 'HTTPRoute method match (exact only)'),
  'vs.match.method.pattern': f(
    'method prefix/regex match',
    'none',
    'blocker',
    'list the methods as separate matches by hand',
  ),
  'vs.match.withoutHeaders': f(
    'withoutHeaders (negative header match)',
    'none',
    'blocker',
    'no negative matches in Gateway API: add a higher-precedence rule for the excluded header',
  ),
  'vs.match.authority': f(
    'authority match',
    'none',
    'blocker',
    'one HTTPRoute per Service host; split by host',
  ),
  'vs.match.scheme': f(
    'scheme match',
    'none',
    'blocker',
    'none in the mesh (HBONE carries the original scheme)',
  ),
  'vs.match.port': f(
    'port match',
    'none',
    'blocker',
    'a separate HTTPRoute with parentRefs[].port',
  ),
  'vs.match.ignoreUriCase': f(
    'ignoreUriCase',
    'none',
    'blocker',
    'a RegularExpression path match listing both cases',
  ),
  'vs.match.source': f(
    'sourceLabels / sourceNamespace match',
    'none',
    'blocker',
    'consumer HTTPRoute in the client namespace (per namespace, not per label)',
  ),
  'vs.gateways': f(
    'rules for ingress gateways only',
    'not-needed',
    'info',
    'unchanged: ingress gateways are not part of the sidecar migration',
  ),
  'vs.route.weights': f('weighted destinations', 'exact', 'auto', 'HTTPRoute backendRefs weights'),
  'vs.route.subset': f(
    'destination subset (labels in DestinationRule)',
    'approximate',
    'auto',
    'a generated Service per subset selecting its labels, used as backendRef',
  ),
  'vs.route.crossNamespace': f(
    'destination in another namespace',
    'exact',
    'auto',
    'backendRef with namespace plus a ReferenceGrant',
  ),
  'vs.route.headers': f(
    'per-destination header manipulation',
    'exact',
    'auto',
    'backendRefs[].filters Request/ResponseHeaderModifier',
  ),
  'vs.headers': f(
    'header manipulation',
    'exact',
    'auto',
    'RequestHeaderModifier / ResponseHeaderModifier filters',
  ),
  'vs.timeout': f('timeout', 'exact', 'auto', 'HTTPRoute rules[].timeouts.request'),
  'vs.retries': f(
    'retries (attempts, perTryTimeout)',
    'exact',
    'auto',
    'rules[].retry.attempts and timeouts.backendRequest',
  ),
  'vs.retries.retryOn': f(
    'retryOn conditions',
    'approximate',
    'warning',
    'rules[].retry.codes; connection-level conditions (connect-failure, reset, refused-stream) are always retried',
  ),
  'vs.fault': f(
    'fault injection (delay/abort)',
    'none',
    'blocker',
    'no Gateway API equivalent: drop it, or keep the workload on a sidecar',
  ),
  'vs.mirror': f('mirror', 'exact', 'auto', 'RequestMirror filter'),
  'vs.mirror.percentage': f(
    'mirror percentage',
    'none',
    'warning',
    'not converted: the mirror is dropped (a 100% mirror would multiply shadow load)',
  ),
  'vs.redirect': f(
    'redirect',
    'exact',
    'auto',
    'RequestRedirect filter (status code kept explicitly: Istio defaults to 301, Gateway API to 302)',
  ),
  'vs.redirect.derivePort': f('redirect derivePort', 'none', 'warning', 'set the port explicitly'),
  'vs.rewrite.uri': f(
    'uri rewrite',
    'exact',
    'auto',
    'URLRewrite ReplacePrefixMatch (prefix match) or ReplaceFullPath (exact match)',
  ),
  'vs.rewrite.uri.other': f(
    'uri rewrite without a prefix/exact match',
    'none',
    'blocker',
    'give the rule a prefix or exact uri match',
  ),
  'vs.rewrite.authority': f('authority rewrite', 'exact', 'auto', 'URLRewrite hostname'),
  'vs.rewrite.regex': f(
    'regex rewrite (uriRegexRewrite)',
    'none',
    'blocker',
    'no Gateway API equivalent: WasmPlugin, or rewrite in the application',
  ),
  'vs.cors': f('CORS policy', 'exact', 'auto', 'HTTPRoute CORS filter, answered by the waypoint'),
  'vs.cors.origin': f(
    'CORS origin by prefix or regex',
    'none',
    'warning',
    'the Gateway API lists origins (a leading * in the host for subdomains): such an origin is dropped, list it instead',
  ),
  'vs.directResponse': f(
    'direct response',
    'none',
    'blocker',
    'no Gateway API equivalent in the mesh',
  ),
  'vs.delegate': f('delegate', 'none', 'blocker', 'inline the delegated routes'),
  'vs.tcp': f(
    'TCP/TLS routes',
    'none',
    'blocker',
    'TCPRoute/TLSRoute are not served by waypoints: use weighted Services or keep on sidecars',
  ),
  'vs.host.unknown': f(
    'host not found',
    'none',
    'warning',
    'include the Service or ServiceEntry in the input, or convert by hand',
  ),
  'vs.host.serviceEntry': f(
    'ServiceEntry host',
    'exact',
    'auto',
    'HTTPRoute with parentRef kind ServiceEntry (needs istio.io/use-waypoint on the ServiceEntry)',
  ),
  'vs.host.wildcard': f('wildcard host', 'none', 'blocker', 'one HTTPRoute per concrete Service'),
  'vs.host.duplicate': f(
    'several VirtualServices for one host',
    'approximate',
    'warning',
    'merged into HTTPRoutes on one Service; Gateway API precedence decides between them',
  ),
  'vs.mixed': f(
    'HTTPRoute and VirtualService for the same Service',
    'none',
    'blocker',
    'VirtualService is alpha in ambient and cannot be mixed with Gateway API routes: convert, then delete the VirtualService',
  ),
  'vs.equivalence': f(
    'sample requests route differently',
    'approximate',
    'blocker',
    'review the rule order: Gateway API orders matches by specificity, Istio by position',
  ),
  // DestinationRule
  'dr.subsets': f(
    'subsets',
    'approximate',
    'auto',
    'a Service per subset (selector = Service selector + subset labels)',
  ),
  'dr.connectionPool': f('connection pool limits', 'exact', 'auto', 'BackendPolicy.connectionPool'),
  'dr.connectionPool.other': f(
    'other connection pool settings',
    'none',
    'warning',
    'dropped: connectTimeout, idleTimeout, maxRequestsPerConnection, maxRetries, tcpKeepalive have no BackendPolicy field',
  ),
  'dr.outlierDetection': f('outlier detection', 'exact', 'auto', 'BackendPolicy.outlierDetection'),
  'dr.outlierDetection.localOrigin': f(
    'local-origin outlier detection',
    'approximate',
    'warning',
    'consecutiveLocalOriginFailures → consecutiveConnectFailures',
  ),
  'dr.outlierDetection.other': f(
    'minHealthPercent / splitExternalLocalOriginErrors',
    'none',
    'warning',
    'dropped',
  ),
  'dr.loadBalancer': f(
    'load balancer (ROUND_ROBIN, LEAST_REQUEST)',
    'exact',
    'auto',
    'BackendPolicy.loadBalancer.type',
  ),
  'dr.loadBalancer.other': f(
    'load balancer RANDOM / PASSTHROUGH',
    'approximate',
    'warning',
    'RoundRobin',
  ),
  'dr.loadBalancer.consistentHash': f(
    'consistent-hash load balancing',
    'none',
    'blocker',
    'no session affinity in ambit yet: keep on sidecars or make the backend stateless',
  ),
  'dr.loadBalancer.locality': f('locality load balancing / warmup', 'none', 'warning', 'dropped'),
  'dr.tls.istioMutual': f(
    'tls ISTIO_MUTUAL / DISABLE',
    'not-needed',
    'info',
    'HBONE always uses mTLS between mesh pods',
  ),
  'dr.tls.origination': f(
    'TLS origination (SIMPLE/MUTUAL)',
    'none',
    'blocker',
    'originate TLS in the application or an egress gateway',
  ),
  'dr.portLevelSettings': f(
    'port-level traffic policy',
    'none',
    'warning',
    'BackendPolicy applies per Service, not per port',
  ),
  'dr.subset.trafficPolicy': f(
    'subset traffic policy',
    'exact',
    'auto',
    'BackendPolicy targeting the subset Service',
  ),
  // EnvoyFilter
  'ef.localRateLimit': f(
    'EnvoyFilter: local rate limit',
    'approximate',
    'auto',
    'RateLimitPolicy (buckets were per sidecar, now per waypoint replica)',
  ),
  'ef.lua': f(
    'EnvoyFilter: Lua filter',
    'none',
    'blocker',
    'WasmPlugin with targetRefs on the waypoint (rewrite the Lua as Wasm)',
  ),
  'ef.headers': f(
    'EnvoyFilter: header manipulation',
    'none',
    'blocker',
    'HTTPRoute RequestHeaderModifier/ResponseHeaderModifier for static values, else a WasmPlugin',
  ),
  'ef.globalRateLimit': f(
    'EnvoyFilter: global rate limit',
    'none',
    'blocker',
    'RateLimitPolicy (local) per waypoint, or a WasmPlugin calling the rate-limit service',
  ),
  'ef.extAuthz': f(
    'EnvoyFilter: external authorization',
    'none',
    'blocker',
    'AuthorizationPolicy action CUSTOM with an extension provider, targetRefs on the waypoint',
  ),
  'ef.wasm': f(
    'EnvoyFilter: Wasm filter',
    'none',
    'blocker',
    'WasmPlugin with targetRefs on the waypoint',
  ),
  'ef.cluster': f(
    'EnvoyFilter: cluster patch',
    'none',
    'blocker',
    'BackendPolicy for connection limits/outlier detection; otherwise none',
  ),
  'ef.other': f(
    'EnvoyFilter: other patch',
    'none',
    'blocker',
    'WasmPlugin where the behaviour is HTTP-level; listener/network patches have no ambient path',
  ),
  'ef.gateway': f(
    'EnvoyFilter for ingress gateways',
    'not-needed',
    'info',
    'unchanged: gateways keep their Envoy',
  ),
  // NetworkPolicy
  'np.hbone': f(
    'NetworkPolicy blocks HBONE (TCP 15008)',
    'exact',
    'auto',
    'add TCP 15008 next to every port the policy allows (patch emitted)',
  ),
  'np.hbone.egress': f(
    'egress NetworkPolicy blocks HBONE (TCP 15008)',
    'exact',
    'auto',
    'add TCP 15008 to every egress port list (patch emitted)',
  ),
  'np.probes': f(
    'NetworkPolicy blocks kubelet probes',
    'exact',
    'auto',
    'allow 169.254.7.127/32 (ambient SNATs probes to it)',
  ),
  'np.ok': f('NetworkPolicy allows HBONE', 'not-needed', 'info', 'nothing to do'),
  // Injection
  'inj.namespace': f(
    'namespace istio-injection label',
    'exact',
    'auto',
    'label istio.io/dataplane-mode=ambient (remove istio-injection)',
  ),
  'inj.revision': f(
    'namespace istio.io/rev label',
    'exact',
    'auto',
    'label istio.io/dataplane-mode=ambient (remove istio.io/rev)',
  ),
  'inj.pod.disabled': f(
    'sidecar.istio.io/inject: "false"',
    'exact',
    'auto',
    'pod label istio.io/dataplane-mode=none',
  ),
  'inj.pod.enabled': f(
    'sidecar.istio.io/inject: "true"',
    'exact',
    'auto',
    'pod label istio.io/dataplane-mode=ambient',
  ),
  'inj.hold': f(
    'holdApplicationUntilProxyStarts',
    'not-needed',
    'info',
    'the pod network is ready before any container starts',
  ),
  'inj.proxyConfig': f(
    'proxy.istio.io/config',
    'none',
    'warning',
    'per-pod proxy settings do not exist in ambient',
  ),
  'inj.resources': f(
    'sidecar resource annotations',
    'not-needed',
    'info',
    'no per-pod proxy; see `ambit migrate cost`',
  ),
  'inj.traffic': f(
    'traffic.sidecar.istio.io capture ports/ranges',
    'none',
    'warning',
    'ambient captures all TCP; there is no per-port or per-range exclusion',
  ),
  'inj.other': f(
    'other sidecar.istio.io annotations',
    'none',
    'warning',
    'no per-pod proxy in ambient',
  ),
  'inj.job': f(
    'Job/CronJob with a sidecar',
    'not-needed',
    'info',
    'no sidecar keeps Job pods alive: remove quitquitquit calls',
  ),
  'inj.hostNetwork': f(
    'hostNetwork pod',
    'none',
    'warning',
    'host-network pods are not captured (same as with sidecars)',
  ),
  // Security and other Istio resources
  'pa.mode': f(
    'PeerAuthentication STRICT/PERMISSIVE',
    'exact',
    'info',
    'kept: ztunnel enforces it',
  ),
  'pa.disable': f(
    'PeerAuthentication DISABLE',
    'none',
    'warning',
    'ambient pods always talk mTLS; DISABLE only lets plaintext in from outside the mesh',
  ),
  'pa.portLevel': f(
    'PeerAuthentication port-level mTLS',
    'approximate',
    'warning',
    'kept: ztunnel applies it, workload-selected policies only',
  ),
  'ap.l4': f('AuthorizationPolicy (L4 rules)', 'exact', 'info', 'kept: ztunnel enforces it'),
  'ap.l7': f(
    'AuthorizationPolicy with L7 rules and a selector',
    'exact',
    'auto',
    'targetRefs on the Service (or waypoint Gateway); at ztunnel it would fail closed',
  ),
  'ap.source': f(
    'AuthorizationPolicy on source identity behind a waypoint',
    'exact',
    'auto',
    'targetRefs: behind a waypoint, ztunnel sees the waypoint identity',
  ),
  'ra.selector': f(
    'RequestAuthentication with a selector',
    'exact',
    'auto',
    'targetRefs on the Service or waypoint (JWT is checked at the waypoint)',
  ),
  'wasm.selector': f(
    'WasmPlugin with a selector',
    'exact',
    'auto',
    'targetRefs on the Service or waypoint',
  ),
  'sidecar.resource': f(
    'Sidecar resource',
    'not-needed',
    'warning',
    'no effect in ambient; egress restrictions move to NetworkPolicy or an egress waypoint',
  ),
  'se.kept': f(
    'ServiceEntry',
    'exact',
    'info',
    'kept; L7 policy on it needs istio.io/use-waypoint on the ServiceEntry',
  ),
  'we.kept': f(
    'WorkloadEntry',
    'approximate',
    'warning',
    'kept; VMs keep their sidecar and talk mTLS to ambient pods',
  ),
} as const satisfies Record<string, FeatureSpec>;

export type FeatureId = keyof typeof FEATURES;

export interface FindingContext {
  namespace: string;
  resource: string;
  workloads?: readonly Workload[];
  source?: Item<unknown>['source'];
  patch?: readonly JsonPatchOp[];
}

/** A finding for catalogue entry `id`, with the object-specific detail. */
export function finding(id: FeatureId, ctx: FindingContext, detail = ''): Finding {
  const spec: FeatureSpec = FEATURES[id];
  return {
    id,
    namespace: ctx.namespace,
    resource: ctx.resource,
    workloads: (ctx.workloads ?? []).map((w) => `${w.kind} ${w.meta.name}`),
    feature: spec.feature,
    support: spec.support,
    severity: spec.severity,
    detail,
    ambient: spec.ambient,
    ...(ctx.source === undefined ? {} : { source: ctx.source }),
    ...(ctx.patch === undefined ? {} : { patch: ctx.patch }),
  };
}

export function itemContext(item: Item<unknown>, workloads?: readonly Workload[]): FindingContext {
  return {
    namespace: item.meta.namespace,
    resource: `${item.kind} ${item.meta.name}`,
    source: item.source,
    ...(workloads === undefined ? {} : { workloads }),
  };
}
