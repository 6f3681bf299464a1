export const InpodErrors = {
  /** The pod netns already has another mesh's capture rules (e.g. Istio's `istio-ambient-*` tables). */
  FOREIGN_RULES: 'AMBIT_INPOD_FOREIGN_RULES',
  /** A ZDS frame that is too large or does not decode; the connection is reset. */
  ZDS_MALFORMED: 'AMBIT_INPOD_ZDS_MALFORMED',
  /** ztunnel answered a ZDS request with an error (e.g. it could not open the pod's listeners). */
  ZDS_NACK: 'AMBIT_INPOD_ZDS_NACK',
  /** The ZDS connection closed before ztunnel acknowledged a request. */
  ZDS_DISCONNECTED: 'AMBIT_INPOD_ZDS_DISCONNECTED',
} as const;
