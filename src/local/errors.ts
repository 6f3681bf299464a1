/** Error codes of the local cluster runner (`ambit up` / `down` / `exec` / `logs` / `get`). */
export const LocalErrors = {
  /** The manifests cannot be run: the message lists every named resource and reason. */
  MANIFEST_INVALID: 'AMBIT_LOCAL_MANIFEST_INVALID',
  /** A local cluster is already running under this run directory. */
  ALREADY_RUNNING: 'AMBIT_LOCAL_ALREADY_RUNNING',
  /** No local cluster is running (no cluster.json under the run directory). */
  NOT_RUNNING: 'AMBIT_LOCAL_NOT_RUNNING',
  /** The named pod or deployment does not exist in the running cluster. */
  POD_NOT_FOUND: 'AMBIT_LOCAL_POD_NOT_FOUND',
  /** The cluster did not become ready (a pod never got ready, or the runner died). */
  START_FAILED: 'AMBIT_LOCAL_START_FAILED',
  /** `ambit label`: a malformed `key=value` / `key-` argument, or an unknown kind. */
  LABEL_INVALID: 'AMBIT_LOCAL_LABEL_INVALID',
  /** The runner did not apply a label change (it died, or enrolling a pod failed). */
  LABEL_FAILED: 'AMBIT_LOCAL_LABEL_FAILED',
  /** `ambit get` of a kind it does not know. */
  NOT_AVAILABLE: 'AMBIT_LOCAL_NOT_AVAILABLE',
  /** `ambit get workloads|policies|certificates|connections`: no node's ztunnel answered on its admin port. */
  ZTUNNEL_UNREACHABLE: 'AMBIT_LOCAL_ZTUNNEL_UNREACHABLE',
  /** `ambit apply`: the runner stored the change but could not apply it, or did not confirm it in time. */
  APPLY_FAILED: 'AMBIT_LOCAL_APPLY_FAILED',
  /** `ambit label` / `ambit apply`: another command held the run's lock (labels.lock) for too long. */
  LOCK_BUSY: 'AMBIT_LOCAL_LOCK_BUSY',
} as const;
