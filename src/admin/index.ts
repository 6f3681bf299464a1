export { type BoundServer, type Reply, type Route, serve } from './http.js';
export { Readiness } from './readiness.js';
export {
  ADMIN_PORT,
  type AdminOptions,
  METRICS_PORT,
  type OperationalServersOptions,
  READINESS_PORT,
  startAdminServer,
  startMetricsServer,
  startOperationalServers,
  startReadinessServer,
} from './servers.js';
