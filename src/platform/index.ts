export {
  type CleanupReport,
  cleanupLedger,
  cleanupLedgerSync,
  cleanupPlan,
  listLedgers,
} from './cleanup.js';
export { PlatformErrors } from './errors.js';
export { commandIn, type RunOptions, type RunResult, requireRoot, run, runSync } from './exec.js';
export {
  DEFAULT_RUN_DIR,
  Ledger,
  type LedgerEntry,
  newRunId,
  processStartTime,
} from './ledger.js';
export {
  loadNative,
  type NativeListenOptions,
  type NativeSocketOptions,
  nativeAvailable,
  type OriginalDst,
} from './native.js';
export {
  addAddress,
  addIpRule,
  addRoute,
  applyNft,
  assertIfName,
  assertNetnsName,
  createNetns,
  createVeth,
  deleteIpRule,
  deleteNetns,
  deleteNftTable,
  deleteVeth,
  execIn,
  IFNAME_MAX,
  listNetns,
  listNftTables,
  NAME_PREFIX,
  netnsExists,
  nftTablesOf,
  type RouteSpec,
  setLinkUp,
  setSysctl,
  spawnIn,
  type VethSpec,
} from './netns.js';
export {
  LinuxPlatform,
  NETNS_DIR,
  type NetnsRef,
  netnsPath,
  type Platform,
  platform,
  platformError,
} from './platform.js';
export {
  type ConnectFromOptions,
  connectFrom,
  fdOf,
  type ListenInOptions,
  listenIn,
  originalDst,
} from './sockets.js';
