export { type BoundServer, type Reply, type Route, serve } from './http.js';
export { Readiness } from './readiness.js';
export {
  ADMIN_PORT,
  type AdminOptions,
  METRICS_PORT,
  READINESS_PORT,
  startAdminServer,
  startMetricsServer,
  startReadinessServer,
} from './servers.js';
