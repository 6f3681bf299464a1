/**
 * Node-side client of the Istio CA API (ztunnel's identity/caclient.rs): makes
 * a key and CSR, asks the CA over TLS with a bearer token, and checks the
 * answer before trusting it.
 *
 * - The CA's serving certificate is verified against the mesh roots, under
 *   `serverName` when set (ztunnel's ALT_CA_HOSTNAME) — useful when the CA is
 *   dialled by IP or through a tunnel.
 * - The token file is re-read on every request, so a rotated token is picked
 *   up without restart.
 * - Requests for any identity other than `ownIdentity` carry
 *   `metadata.ImpersonatedIdentity`.
 * - The returned leaf must carry exactly the requested identity, match the
 *   generated key, and chain to the mesh roots; otherwise it is discarded.
 */
import { readFile } from 'node:fs/promises';
import { create } from '@bufbuild/protobuf';
import {
  ChannelCredentials,
  type ChannelOptions,
  Client,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { AmbitError, errorMessage, isAmbitError } from '../core/errors.js';
import {
  type IstioCertificateRequest,
  IstioCertificateRequestSchema,
  type IstioCertificateResponse,
  IstioCertificateService,
} from '../gen/istio/ca/ca_pb.js';
import { grpcService } from '../grpc/index.js';
import { createCsr, TrustBundle, WorkloadCertificate } from '../tls/index.js';
import { IdentityErrors } from './errors.js';
import type { CertificateFetcher } from './secret-manager.js';
import type { SpiffeId } from './spiffe.js';

/** ztunnel's SECRET_TTL default: 24 h. */
export const DEFAULT_CERT_VALIDITY_MS = 24 * 3600_000;
const IMPERSONATED_IDENTITY_KEY = 'ImpersonatedIdentity';

export interface CaClientOptions {
  /** `host:port` of the CA, e.g. `istiod.istio-system.svc:15012`. */
  address: string;
  /** Mesh root certificates (PEM) that the CA's serving certificate must chain to. */
  rootsPem: string;
  /** Name the CA's certificate must carry (ALT_CA_HOSTNAME). Default: the host of `address`. */
  serverName?: string;
  /** File holding the bearer token; re-read on every request. */
  tokenFile: string;
  /** The proxy's own identity; requests for others carry ImpersonatedIdentity. Default: none. */
  ownIdentity?: SpiffeId;
  /** Requested certificate lifetime (ms, sent in whole seconds). Default 24 h. */
  validityMs?: number;
  /** Per-request deadline (ms). Default 10 s. */
  timeoutMs?: number;
  /** Extra gRPC metadata per request (ztunnel's `clusterid`, CA_HEADER_*). */
  headers?: Readonly<Record<string, string>>;
}

const RETRYABLE: ReadonlySet<status> = new Set([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.ABORTED,
  status.INTERNAL,
  status.UNKNOWN,
]);

const method = grpcService(IstioCertificateService).createCertificate;

export class CaClient implements CertificateFetcher<WorkloadCertificate> {
  private client: Client;
  private roots: TrustBundle;

  constructor(private readonly opts: CaClientOptions) {
    this.roots = TrustBundle.fromPem(opts.rootsPem);
    this.client = this.dial(opts.rootsPem);
  }

  /** Replaces the mesh roots (root file changed): new requests use a fresh channel. */
  setRoots(rootsPem: string): void {
    const roots = TrustBundle.fromPem(rootsPem);
    const old = this.client;
    this.roots = roots;
    this.client = this.dial(rootsPem);
    old.close();
  }

  close(): void {
    this.client.close();
  }

  /**
   * Obtains a certificate for `identity`. Rejects with
   * `AMBIT_IDENTITY_TOKEN_UNREADABLE`, `AMBIT_IDENTITY_CA_UNAVAILABLE`,
   * `AMBIT_IDENTITY_CA_REJECTED` or `AMBIT_IDENTITY_CA_RESPONSE_INVALID`.
   */
  async fetchCertificate(identity: SpiffeId): Promise<WorkloadCertificate> {
    const token = await this.readToken();
    const { csrPem, keyPem } = await createCsr(identity);
    const validityS = Math.max(
      1,
      Math.round((this.opts.validityMs ?? DEFAULT_CERT_VALIDITY_MS) / 1000),
    );
    const impersonate = !this.opts.ownIdentity?.equals(identity);
    const req = create(IstioCertificateRequestSchema, {
      csr: csrPem,
      validityDuration: BigInt(validityS),
      ...(impersonate ? { metadata: { [IMPERSONATED_IDENTITY_KEY]: identity.uri } } : {}),
    });
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    for (const [k, v] of Object.entries(this.opts.headers ?? {})) md.set(k.toLowerCase(), v);
    const res = await this.call(req, md);
    if (res.certChain.length === 0) {
      throw new AmbitError(
        IdentityErrors.CA_RESPONSE_INVALID,
        `CA returned no certificate for ${identity.uri}`,
      );
    }
    try {
      return WorkloadCertificate.create({
        chainPem: res.certChain,
        keyPem,
        roots: this.roots,
        expectedIdentity: identity,
      });
    } catch (err) {
      // The message of a TLS error names identities and validity, never the key.
      throw new AmbitError(
        IdentityErrors.CA_RESPONSE_INVALID,
        `CA answer for ${identity.uri} rejected: ${errorMessage(err)}`,
        { details: { cause: isAmbitError(err) ? err.code : undefined } },
      );
    }
  }

  private async readToken(): Promise<string> {
    let text: string;
    try {
      text = await readFile(this.opts.tokenFile, 'utf8');
    } catch (err) {
      throw new AmbitError(
        IdentityErrors.TOKEN_UNREADABLE,
        `cannot read CA token file ${this.opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const token = text.trim();
    if (token === '' || /\s/.test(token)) {
      throw new AmbitError(
        IdentityErrors.TOKEN_UNREADABLE,
        `CA token file ${this.opts.tokenFile} is empty or malformed`,
      );
    }
    return token;
  }

  private dial(rootsPem: string): Client {
    const options: ChannelOptions = {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    };
    if (this.opts.serverName) {
      options['grpc.ssl_target_name_override'] = this.opts.serverName;
      options['grpc.default_authority'] = this.opts.serverName;
    }
    return new Client(
      this.opts.address,
      ChannelCredentials.createSsl(Buffer.from(rootsPem)),
      options,
    );
  }

  private call(req: IstioCertificateRequest, md: Metadata): Promise<IstioCertificateResponse> {
    const deadline = Date.now() + (this.opts.timeoutMs ?? 10_000);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        req,
        md,
        { deadline },
        (err: ServiceError | null, res?: IstioCertificateResponse) => {
          if (err || !res) {
            reject(this.callError(err));
            return;
          }
          resolve(res);
        },
      );
    });
  }

  private callError(err: ServiceError | null): AmbitError {
    const code = err?.code ?? status.UNKNOWN;
    const detail = err?.details || 'no details';
    const retryable = RETRYABLE.has(code);
    return new AmbitError(
      retryable ? IdentityErrors.CA_UNAVAILABLE : IdentityErrors.CA_REJECTED,
      `CA ${this.opts.address} answered ${status[code]}: ${detail}`,
      { details: { grpcCode: code } },
    );
  }
}
