export { type ManifestDirectoryOptions, ManifestDirectorySource } from './directory.js';
export {
  type InformerFactory,
  type InformerLike,
  KUBERNETES_ORIGIN,
  type KubeObject,
  KubernetesSource,
  type KubernetesSourceOptions,
  WATCHED_KINDS,
  type WatchedKind,
} from './kubernetes.js';
export { RUNTIME_ORIGIN, type RuntimePod, runtimePodObject } from './runtime.js';
export {
  ConfigStore,
  type RejectedResource,
  type Snapshot,
  type SnapshotListener,
} from './store.js';
