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
export { PROXY_NODE_FLAGS } from './node-flags.js';
