export { type EnrolledPod, NodeAgent } from './agent.js';
export {
  type ApplyInpodOptions,
  applyInpodAnchor,
  applyInpodRules,
  releaseInpodRules,
  removeInpodRules,
} from './apply.js';
export { InpodErrors } from './errors.js';
export {
  anchorRuleset,
  INPOD_DEFAULTS,
  type InpodRouting,
  type InpodRuleOptions,
  type InpodTables,
  inpodRouting,
  inpodRuleset,
  inpodTables,
} from './rules.js';
export type { WorkloadRequest } from './zds.js';
export * as zds from './zds.js';
export { ZdsClient, type ZdsHandler } from './zds-client.js';
