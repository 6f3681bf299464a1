export const InpodErrors = {
  /** The pod netns already has another mesh's capture rules (e.g. Istio's `istio-ambient-*` tables). */
  FOREIGN_RULES: 'AMBIT_INPOD_FOREIGN_RULES',
} as const;
