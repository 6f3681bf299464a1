export { buildCluster, ETC_NETNS, removePodEtc } from './cluster.js';
export { runDir, runRoot } from './config.js';
export { LocalErrors } from './errors.js';
export {
  emptyOverrides,
  LABELS_FILE,
  LABELS_SIGNAL,
  type LabelOverrides,
  type LabelPatch,
  parseLabelArgs,
  patchLabels,
  readOverrides,
  writeOverrides,
} from './labels.js';
export {
  CONTROLPLANE_IP,
  MESH_NAMESPACE,
  Mesh,
  type MeshStatus,
  podUid,
  probeHttp,
  XDS_PORT,
} from './mesh.js';
export { type MeshManifestInput, podEnrolled, renderMeshManifests } from './mesh-manifests.js';
export { preflight, REQUIRED_TOOLS } from './preflight.js';
export { hostsFile, resolvConf, SERVICE_TABLE, serviceRuleset } from './render.js';
export {
  prepareRoot,
  type RunningCluster,
  type RunOptions,
  startCluster,
  teardownRun,
} from './runner.js';
export {
  type ClusterState,
  currentState,
  findPod,
  listRuns,
  type PodState,
  readState,
  runnerAlive,
  STATE_FILE,
} from './state.js';
export {
  listeningPorts,
  type ProcessHost,
  ProcessRunner,
  podLogPath,
  RESTART_BACKOFF,
  Supervisor,
} from './supervisor.js';
export {
  type ClusterPlan,
  type ContainerPlan,
  DATAPLANE_MODE_LABEL,
  expand,
  type NodePlan,
  type PlanOptions,
  type PodPlan,
  planCluster,
  podNameFor,
  podNetnsName,
  SERVICE_CIDR,
  type ServicePlan,
} from './topology.js';
