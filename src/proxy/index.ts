/**
 * The L4 node proxy (ztunnel's data plane): outbound capture, inbound HBONE
 * and plaintext, SOCKS5, connection tracking, metrics and access logs, on
 * top of HBONE (./hbone). See docs/ztunnel.md.
 */

export { type AccessLogEntry, writeAccessLog } from './access-log.js';
export {
  type ConnectionDump,
  ConnectionManager,
  type TrackedConnection,
} from './connection-manager.js';
export { ConnectionResult, peerOf, serviceOf } from './connection-result.js';
export { deadline, type ProxyContext, type ProxyTunables, within } from './context.js';
export { ProxyErrors } from './errors.js';
export * from './hbone/index.js';
export { authorizeInbound, dialLocal, Inbound } from './inbound.js';
export { InboundPlaintext } from './inbound-plaintext.js';
export {
  ProxyMetrics,
  type Reporter,
  type ResponseFlag,
  TRAFFIC_LABELS,
  type TrafficInfo,
  trafficLabels,
} from './metrics.js';
export { Outbound, responseFlagFor } from './outbound.js';
export {
  type DialSpec,
  hostSocketFactory,
  type ListenSpec,
  NativeSocketFactory,
  type NativeSocketFactoryOptions,
  type OriginalDestination,
  PlainSocketFactory,
  type SocketFactory,
} from './socket-factory.js';
export { Socks5Reply, Socks5Server } from './socks5.js';
export {
  type CertificateSource,
  DedicatedWorkloads,
  type LocalWorkloads,
  NodeWorkloads,
  waitFor,
} from './workloads.js';
