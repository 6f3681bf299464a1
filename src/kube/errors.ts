export const KubeErrors = {
  /** A manifest file could not be read or is not valid YAML; the message names file and document. */
  MANIFEST_PARSE: 'AMBIT_KUBE_MANIFEST_PARSE',
  /** A resource of a known kind has invalid content; the message names kind/namespace/name and the field. */
  RESOURCE_INVALID: 'AMBIT_KUBE_RESOURCE_INVALID',
  /** The same kind/namespace/name is defined twice; the first definition is used. */
  RESOURCE_DUPLICATE: 'AMBIT_KUBE_RESOURCE_DUPLICATE',
} as const;
