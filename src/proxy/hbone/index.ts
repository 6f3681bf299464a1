/**
 * HBONE: Istio ambient's tunnel, HTTP/2 CONNECT over mutual TLS 1.3 on port
 * 15008 with SPIFFE identities. Wire-compatible with ztunnel. See docs/hbone.md.
 */

export { isBenignReset, type RelayOptions, type RelayResult, relay } from '../relay.js';
export {
  canonicalIp,
  formatAuthority,
  type HboneTarget,
  parseAuthority,
  type SocketAddress,
  sameIp,
} from './address.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  type Dialer,
  type DialTarget,
  type HboneSessionOptions,
  openSession,
  tcpDialer,
} from './client.js';
export { HboneErrors } from './errors.js';
export {
  type BaggageKey,
  formatBaggage,
  formatForwarded,
  type HboneRequestHeaders,
  newTraceparent,
  parseBaggage,
  parseForwardedHost,
} from './headers.js';
export {
  type HboneCredentials,
  hboneCredentials,
  verifyClientIdentity,
  verifyServerIdentity,
} from './identity.js';
export {
  DEFAULT_MAX_STREAMS_PER_CONNECTION,
  DEFAULT_POOL_IDLE_TIMEOUT_MS,
  HbonePool,
  type HbonePoolOptions,
  type HbonePoolStats,
  type HbonePoolTarget,
} from './pool.js';
export { HboneServer } from './server.js';
export type {
  AcceptedSocketMeta,
  HboneConnectContext,
  HboneConnectDecision,
  HboneServerOptions,
  HboneServerStats,
  HboneStreamInfo,
  HboneStreamOutcome,
} from './server-types.js';
export { type HboneConnectRequest, HboneSession } from './session.js';
export {
  DEFAULT_HBONE_SETTINGS,
  DEFAULT_ILLEGAL_PORTS,
  HBONE_PORT,
  type HboneSettings,
  type HboneSettingsInput,
  resolveHboneSettings,
} from './settings.js';
