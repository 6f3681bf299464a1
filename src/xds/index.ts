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
