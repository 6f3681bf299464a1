/**
 * Where ztunnel's workload certificates come from: a local file CA
 * (`--ca-dir`, the directory `ambit ca init` writes; for one host and tests)
 * or the mesh CA over gRPC (CA_ADDRESS + CA_ROOT_CA + AUTH_TOKEN). Either
 * way a SecretManager caches one certificate per identity and renews it at
 * half-life.
 */
import { readFileSync } from 'node:fs';
import type { ZtunnelConfig } from '../config/ztunnel.js';
// The authority module alone: the barrel also pulls in the CA server and
// @kubernetes/client-node (~80 MB of RSS a ztunnel never uses).
import { CertificateAuthority } from '../controlplane/ca/authority.js';
import { AmbitError, CoreErrors } from '../core/errors.js';
import {
  type CertificateDump,
  type CertificateFetcher,
  SecretManager,
  type SpiffeId,
} from '../identity/index.js';
import type { CertificateSource, HboneCredentials } from '../proxy/index.js';
import { createCsr, WorkloadCertificate } from '../tls/index.js';

/** Signs CSRs with a CA whose key is on local disk. */
export class FileCaFetcher implements CertificateFetcher<WorkloadCertificate> {
  private readonly ca: CertificateAuthority;

  constructor(
    dir: string,
    private readonly ttlMs: number,
  ) {
    this.ca = CertificateAuthority.load(dir);
  }

  async fetchCertificate(identity: SpiffeId): Promise<WorkloadCertificate> {
    const { csrPem, keyPem } = await createCsr(identity);
    const issued = this.ca.sign(csrPem, { identity, ttlMs: this.ttlMs });
    return WorkloadCertificate.create({
      chainPem: issued.chainPem,
      keyPem,
      roots: this.ca.trustBundle(),
      expectedIdentity: identity,
    });
  }
}

/** A certificate source with tracking (prefetch + renewal) and a key-free dump. */
export interface ManagedCertificateSource extends CertificateSource {
  track(identity: SpiffeId): void;
  untrack(identity: SpiffeId): void;
  /** Called on every new or dropped certificate. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  dump(): CertificateDump[];
  close(): void;
}

/** Adapts a SecretManager of WorkloadCertificates to the proxy's CertificateSource. */
export class ManagedCertificates implements ManagedCertificateSource {
  private readonly creds = new WeakMap<WorkloadCertificate, HboneCredentials>();

  constructor(
    private readonly manager: SecretManager<WorkloadCertificate>,
    private readonly onClose: () => void = () => {},
  ) {}

  private toCreds(c: WorkloadCertificate): HboneCredentials {
    let v = this.creds.get(c);
    if (v === undefined) {
      v = {
        certChainPem: c.certChainPem,
        keyPem: c.keyPem,
        rootsPem: c.roots.pems,
        identity: c.identity,
      };
      this.creds.set(c, v);
    }
    return v;
  }

  current(identity: SpiffeId): HboneCredentials | undefined {
    const c = this.manager.current(identity);
    return c === undefined ? undefined : this.toCreds(c);
  }

  async fetch(identity: SpiffeId): Promise<HboneCredentials> {
    return this.toCreds(await this.manager.fetch(identity));
  }

  track(identity: SpiffeId): void {
    this.manager.track(identity);
  }

  untrack(identity: SpiffeId): void {
    this.manager.untrack(identity);
  }

  onChange(listener: () => void): () => void {
    return this.manager.onChange(() => listener());
  }

  dump(): CertificateDump[] {
    return this.manager.dump();
  }

  close(): void {
    this.manager.close();
    this.onClose();
  }
}

/**
 * Builds the certificate source the config asks for. The gRPC CA client is
 * imported only when CA_ADDRESS is used (grpc-js and the protobuf runtime
 * cost ~15 MB of RSS a file-CA ztunnel does not need).
 */
export async function certificatesFromConfig(
  config: Readonly<
    Pick<
      ZtunnelConfig,
      'caDir' | 'secretTtlMs' | 'caAddress' | 'caRootPath' | 'tokenPath' | 'caHostname'
    >
  >,
): Promise<ManagedCertificateSource> {
  if (config.caDir !== undefined) {
    const fetcher = new FileCaFetcher(config.caDir, config.secretTtlMs);
    return new ManagedCertificates(new SecretManager({ fetcher }));
  }
  if (config.caAddress !== undefined) {
    if (config.caRootPath === undefined || config.tokenPath === undefined) {
      throw new AmbitError(
        CoreErrors.CONFIG_INVALID,
        'CA_ADDRESS needs the mesh root (CA_ROOT_CA / --ca-root) and a token file (AUTH_TOKEN / --token-file)',
      );
    }
    const { CaClient } = await import('../identity/ca-client.js');
    const client = new CaClient({
      address: config.caAddress.replace(/^https?:\/\//, ''),
      rootsPem: readFileSync(config.caRootPath, 'utf8'),
      serverName: config.caHostname,
      tokenFile: config.tokenPath,
      validityMs: config.secretTtlMs,
    });
    return new ManagedCertificates(new SecretManager({ fetcher: client }), () => client.close());
  }
  throw new AmbitError(
    CoreErrors.CONFIG_INVALID,
    'a certificate source is needed: --ca-dir <dir> (local file CA) or CA_ADDRESS with CA_ROOT_CA and AUTH_TOKEN',
  );
}
