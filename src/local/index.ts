export { buildCluster, ETC_NETNS, removePodEtc } from './cluster.js';
export { runDir, runRoot } from './config.js';
export { LocalErrors } from './errors.js';
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
export { listeningPorts, podLogPath, RESTART_BACKOFF, Supervisor } from './supervisor.js';
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
