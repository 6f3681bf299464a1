export {
  deepFreeze,
  type Env,
  envBool,
  envDuration,
  envEnum,
  envInt,
  envString,
  processEnv,
} from './env.js';
