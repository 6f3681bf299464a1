/** Error codes of the waypoint (L7 proxy). Catalogued in docs/errors.md. */
export const WaypointErrors = {
  /** A pushed WaypointService / ServiceEndpoints resource is unusable; it is NACKed. */
  CONFIG_INVALID: 'AMBIT_WAYPOINT_CONFIG_INVALID',
} as const;
