export const MigrateErrors = {
  /** No usable input (no `-f` paths and no `--kubeconfig`), or a required figure such as the node count is unknown. */
  INPUT_INVALID: 'AMBIT_MIGRATE_INPUT_INVALID',
  /** Listing resources from a live cluster failed (connection, TLS, authorization). */
  CLUSTER_READ: 'AMBIT_MIGRATE_CLUSTER_READ',
  /** A converted object failed schema validation: a bug in the converter, the object is not written. */
  OUTPUT_INVALID: 'AMBIT_MIGRATE_OUTPUT_INVALID',
  /** The output directory or a report file could not be written. */
  OUTPUT_WRITE: 'AMBIT_MIGRATE_OUTPUT_WRITE',
} as const;
