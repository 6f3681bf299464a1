export { type ApplyInpodOptions, applyInpodRules, removeInpodRules } from './apply.js';
export { InpodErrors } from './errors.js';
export {
  INPOD_DEFAULTS,
  type InpodRouting,
  type InpodRuleOptions,
  type InpodTables,
  inpodRouting,
  inpodRuleset,
  inpodTables,
} from './rules.js';
