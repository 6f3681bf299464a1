export const StateErrors = {
  /** An xDS resource (Address or Authorization) has an invalid field; the message names the resource and field. */
  RESOURCE_INVALID: 'AMBIT_STATE_RESOURCE_INVALID',
  /** The local config YAML is malformed or an item in it is invalid; the message names the item and field. */
  LOCAL_CONFIG_INVALID: 'AMBIT_STATE_LOCAL_CONFIG_INVALID',
} as const;
