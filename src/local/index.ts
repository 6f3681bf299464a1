export {
  APPLIED_DIR,
  type ApplyAction,
  type ApplyResult,
  appliedDir,
  appliedFiles,
  effectiveManifests,
  kubectlRef,
  seqOf,
  storeApplied,
  storeDeleted,
  watchApplied,
} from './applied.js';
export {
  addPod,
  buildCluster,
  ETC_NETNS,
  nodeVethName,
  refreshServices,
  removePod,
  removePodEtc,
} from './cluster.js';
export { applyChanges, type LiveCluster } from './cluster-changes.js';
export { runDir, runRoot } from './config.js';
export { LocalErrors } from './errors.js';
export {
  dropAppliedKeys,
  emptyOverrides,
  LABELS_FILE,
  LABELS_LOCK,
  LABELS_SIGNAL,
  type LabelOverrides,
  type LabelPatch,
  parseLabelArgs,
  patchLabels,
  readOverrides,
  updateOverrides,
  withOverrides,
  withRunLock,
  withServiceLabels,
  writeOverrides,
} from './labels.js';
export { type LiveApply, type LiveApplyOptions, startLiveApply } from './live-apply.js';
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
export { fetchInNetns } from './probe.js';
export {
  type ClusterChanges,
  type ConfigChange,
  manifestProblems,
  overlayManifests,
  type ReconcileInput,
  reconcile,
} from './reconcile.js';
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
  planOf,
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
export {
  isWaypointGateway,
  WAYPOINT_CLASS,
  type WaypointGateway,
  waypointGateways,
} from './waypoints.js';
export {
  certificatesView,
  connectionsView,
  type DumpConnection,
  dumpWarnings,
  fetchConfigDump,
  fetchNodeDumps,
  type NodeDump,
  policiesView,
  type ViewResult,
  workloadsView,
  ZTUNNEL_ADMIN,
  ZTUNNEL_VIEWS,
  type ZtunnelDump,
  type ZtunnelView,
  ztunnelView,
} from './ztunnel-config.js';
