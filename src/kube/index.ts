export { KubeErrors } from './errors.js';
export {
  describeObject,
  formatSource,
  type ManifestProblem,
  type ManifestSet,
  type ManifestSourceRef,
  manifestFiles,
  parseManifestText,
  type RawObject,
  readManifests,
} from './manifests.js';
