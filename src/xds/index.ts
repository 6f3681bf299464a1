export {
  type ApplyResult,
  DeltaXdsClient,
  type DeltaXdsClientOptions,
  type TypeHandler,
  type XdsClientState,
  type XdsResource,
  type XdsUpdate,
} from './client.js';
export { XdsErrors } from './errors.js';
export {
  formatNodeId,
  type NodeId,
  type NodeMetadata,
  nodeMetadata,
  type ProxyType,
  parseNodeId,
} from './node.js';
export { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, shortType, WILDCARD } from './types.js';
