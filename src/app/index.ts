/** Composition roots of the ambit binaries. Nothing imports app/ except the CLI. */
export { buildZtunnel, type Ztunnel, type ZtunnelAddresses, type ZtunnelDeps } from './ztunnel.js';
export type { ConfigSource } from './ztunnel-config-source.js';
export {
  certificatesFromConfig,
  FileCaFetcher,
  type ManagedCertificateSource,
  ManagedCertificates,
} from './ztunnel-identity.js';
