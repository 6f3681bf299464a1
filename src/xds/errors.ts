export const XdsErrors = {
  /** The xDS stream to the control plane failed or was closed; the client keeps its config and reconnects. */
  STREAM_FAILED: 'AMBIT_XDS_STREAM_FAILED',
  /** The control plane rejected the client's credentials (gRPC UNAUTHENTICATED). */
  UNAUTHENTICATED: 'AMBIT_XDS_UNAUTHENTICATED',
  /** Resources in a response could not be applied; they were NACKed with the errors in error_detail. */
  RESOURCE_REJECTED: 'AMBIT_XDS_RESOURCE_REJECTED',
  /** A node id does not have the `<type>~<ip>~<pod>.<ns>~<domain>` shape. */
  NODE_ID_INVALID: 'AMBIT_XDS_NODE_ID_INVALID',
} as const;
