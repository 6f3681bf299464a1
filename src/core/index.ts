export { Backoff, type BackoffOptions } from './backoff.js';
export { Drain, type DrainResult, type DrainTask } from './drain.js';
export { formatDuration, parseDuration } from './duration.js';
export {
  AmbitError,
  type AmbitErrorOptions,
  CoreErrors,
  errorMessage,
  isAmbitError,
} from './errors.js';
