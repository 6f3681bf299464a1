/**
 * Migration from Istio sidecars to ambit: `check` (what blocks, what converts),
 * `convert` (the ambient configuration and a route-equivalence table) and
 * `cost` (sidecar reservations against the ambient data plane).
 */
export {
  AMBIT_POLICY_API_VERSION,
  type BackendPolicy,
  type RateLimitPolicy,
  validateAmbitPolicy,
} from './ambit-policies.js';
export { type CheckReport, check, type NamespaceReport, type Verdict } from './check.js';
export { type ClusterSource, readCluster } from './cluster.js';
export type { HTTPRouteObject } from './convert/gw.js';
export { type Conversion, convert, type NamespacePlan } from './convert.js';
export { type AmbientFigures, ambientFigures, type CostReport, cost } from './cost.js';
export { checkEquivalence, type EquivalenceResult, type SampleRow } from './equivalence/check.js';
export { evaluateHttpRoutes } from './equivalence/route-eval.js';
export { samplesFor } from './equivalence/samples.js';
export type { Evaluation, Outcome, SampleRequest } from './equivalence/types.js';
export { evaluateVirtualService } from './equivalence/vs-eval.js';
export { MigrateErrors } from './errors.js';
export { FEATURES, type FeatureId } from './features.js';
export { buildInventory, type Inventory } from './inventory.js';
export { schemaError } from './models.js';
export { checkHtml, checkMarkdown, checkTable } from './report/check.js';
export { costHtml, costMarkdown, costTable } from './report/cost.js';
export type { Finding, Severity, Support } from './types.js';
export { samplesDocument, toYaml, writeConversion } from './write.js';
