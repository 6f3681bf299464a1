/** Composition roots of the ambit binaries. Nothing imports app/ except the CLI. */

export {
  buildWaypoint,
  HboneUpstreamConnector,
  type Waypoint,
  type WaypointAddresses,
  type WaypointDeps,
} from './waypoint.js';
export {
  parseLocalWaypointConfig,
  SERVICE_ENDPOINTS_TYPE_URL,
  WAYPOINT_SERVICE_TYPE_URL,
  WaypointFileSource,
  WaypointXdsSource,
} from './waypoint-config-source.js';
export { buildZtunnel, type Ztunnel, type ZtunnelAddresses, type ZtunnelDeps } from './ztunnel.js';
export type { ConfigSource } from './ztunnel-config-source.js';
export {
  certificatesFromConfig,
  FileCaFetcher,
  type ManagedCertificateSource,
  ManagedCertificates,
} from './ztunnel-identity.js';
