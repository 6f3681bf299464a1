/**
 * The Istio certificate service (`/istio.v1.auth.IstioCertificateService/CreateCertificate`).
 *
 * Flow per call: authenticate → decide the requested identity (the CSR's URI
 * SAN; with `metadata.ImpersonatedIdentity` the caller asks on behalf of that
 * identity and the CSR must carry it) → authorize → sign → return
 * `cert_chain = [leaf, intermediates…, root]`.
 *
 * Status codes: UNAUTHENTICATED (no/invalid/expired credential),
 * PERMISSION_DENIED (identity not allowed for this caller), INVALID_ARGUMENT
 * (malformed CSR, CSR identity ≠ requested identity, bad validity),
 * UNAVAILABLE (credential backend down), INTERNAL (signing failed).
 * Messages never carry tokens or keys.
 */
import { X509Certificate } from 'node:crypto';
import { create, type JsonValue } from '@bufbuild/protobuf';
import {
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { AmbitError, errorMessage, isAmbitError } from '../../core/errors.js';
import {
  type IstioCertificateRequest,
  type IstioCertificateResponse,
  IstioCertificateResponseSchema,
  IstioCertificateService,
} from '../../gen/istio/ca/ca_pb.js';
import { type GrpcServiceDefinition, grpcService } from '../../grpc/index.js';
import { logger } from '../../telemetry/index.js';
import type { Authenticator, CallCredentials, Caller } from './auth.js';
import { describeCaller } from './authorize.js';
import { csrIdentity } from './csr-identity.js';
import { CaServiceErrors } from './service-errors.js';

/** Signs a CSR for an identity; the authority in src/controlplane/ca/authority.ts fits. */
export interface CertificateSigner {
  /** @returns PEM certificates, leaf first, root last. */
  sign(csrPem: string, opts: { identity: string; ttlMs: number }): Promise<{ chainPem: string[] }>;
}

/** Decides whether a caller may get an identity; throws `AMBIT_CA_PERMISSION_DENIED` if not. */
export interface IdentityAuthorizer {
  authorize(caller: Caller, identity: string): void;
}

export const IMPERSONATED_IDENTITY_KEY = 'ImpersonatedIdentity';
/** Istio's DEFAULT_WORKLOAD_CERT_TTL. */
export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3600_000;
/** Istio's MAX_WORKLOAD_CERT_TTL. */
export const MAX_WORKLOAD_TTL_MS = 90 * 24 * 3600_000;

export interface CaServiceOptions {
  authenticator: Authenticator;
  authorizer: IdentityAuthorizer;
  signer: CertificateSigner;
  /** Only identities in this trust domain are issued. */
  trustDomain: string;
  /** Leaf lifetime when the request asks for 0 s. Default 24 h (ms). */
  defaultTtlMs?: number;
  /** Longest lifetime a request may ask for; longer → INVALID_ARGUMENT. Default 90 d (ms). */
  maxTtlMs?: number;
}

export type CaServiceDefinition = GrpcServiceDefinition<(typeof IstioCertificateService)['method']>;

const log = logger('ca');

const STATUS_OF: Readonly<Record<string, status>> = {
  [CaServiceErrors.UNAUTHENTICATED]: status.UNAUTHENTICATED,
  [CaServiceErrors.PERMISSION_DENIED]: status.PERMISSION_DENIED,
  [CaServiceErrors.INVALID_REQUEST]: status.INVALID_ARGUMENT,
  [CaServiceErrors.AUTH_BACKEND_UNAVAILABLE]: status.UNAVAILABLE,
};

function invalid(reason: string): AmbitError {
  return new AmbitError(CaServiceErrors.INVALID_REQUEST, reason);
}

/** The CA request handler, independent of gRPC so it can be tested and reused. */
export class CertificateService {
  private readonly defaultTtlMs: number;
  private readonly maxTtlMs: number;

  constructor(private readonly opts: CaServiceOptions) {
    this.defaultTtlMs = opts.defaultTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    this.maxTtlMs = opts.maxTtlMs ?? MAX_WORKLOAD_TTL_MS;
  }

  /**
   * Handles one request. Rejects with an {@link AmbitError} whose code maps to
   * a gRPC status (see {@link grpcStatusOf}).
   */
  async createCertificate(
    req: IstioCertificateRequest,
    credentials: CallCredentials,
  ): Promise<{ chainPem: string[]; caller: Caller; identity: string }> {
    // Authenticate first: an anonymous caller learns nothing about its CSR.
    const caller = await this.opts.authenticator.authenticate(credentials);
    if (!caller) throw new AmbitError(CaServiceErrors.UNAUTHENTICATED, 'no credential');
    const ttlMs = this.ttlOf(req.validityDuration);
    const impersonated = impersonatedIdentity(req.metadata?.[IMPERSONATED_IDENTITY_KEY]);
    const fromCsr = (await csrIdentity(req.csr)).uri;
    if (impersonated !== undefined && impersonated !== fromCsr) {
      throw invalid(`CSR identity ${fromCsr} does not match requested identity ${impersonated}`);
    }
    const identity = fromCsr;
    if (!identity.startsWith(`spiffe://${this.opts.trustDomain}/`)) {
      throw new AmbitError(
        CaServiceErrors.PERMISSION_DENIED,
        `${describeCaller(caller)} may not request ${identity}: outside trust domain "${this.opts.trustDomain}"`,
      );
    }
    this.opts.authorizer.authorize(caller, identity);
    let chainPem: string[];
    try {
      ({ chainPem } = await this.opts.signer.sign(req.csr, { identity, ttlMs }));
    } catch (err) {
      throw new AmbitError(
        CaServiceErrors.SIGN_FAILED,
        `signing a certificate for ${identity} failed`,
        {
          cause: err,
        },
      );
    }
    return { chainPem, caller, identity };
  }

  private ttlOf(seconds: bigint): number {
    if (seconds < 0n) throw invalid(`validity_duration ${seconds}s is negative`);
    if (seconds === 0n) return this.defaultTtlMs;
    const maxS = BigInt(Math.floor(this.maxTtlMs / 1000));
    if (seconds > maxS) {
      throw invalid(`validity_duration ${seconds}s exceeds the maximum of ${maxS}s`);
    }
    return Number(seconds) * 1000;
  }
}

function impersonatedIdentity(value: JsonValue | undefined): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string')
    throw invalid(`metadata.${IMPERSONATED_IDENTITY_KEY} must be a string`);
  return value;
}

/** The gRPC status for an error from {@link CertificateService.createCertificate}. */
export function grpcStatusOf(err: unknown): { code: status; details: string } {
  if (isAmbitError(err)) {
    const code = STATUS_OF[err.code];
    if (code !== undefined) return { code, details: `[${err.code}] ${err.message}` };
  }
  // Internal details stay in the server log.
  return { code: status.INTERNAL, details: `[${CaServiceErrors.SIGN_FAILED}] internal error` };
}

export function callCredentials(call: ServerUnaryCall<unknown, unknown>): CallCredentials {
  const authorization = call.metadata
    .get('authorization')
    .map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
  const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
  return raw ? { authorization, peerCertificate: raw } : { authorization };
}

function serialOf(leafPem: string | undefined): string | undefined {
  try {
    return leafPem ? new X509Certificate(leafPem).serialNumber : undefined;
  } catch {
    return undefined;
  }
}

/** grpc-js service definition and implementation, for `server.addService(...)`. */
export function caGrpcService(service: CertificateService): {
  definition: CaServiceDefinition;
  implementation: UntypedServiceImplementation;
} {
  const definition = grpcService(IstioCertificateService);
  const createCertificate = (
    call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
    callback: sendUnaryData<IstioCertificateResponse>,
  ): void => {
    const peer = call.getPeer();
    service.createCertificate(call.request, callCredentials(call)).then(
      ({ chainPem, caller, identity }) => {
        log.info(
          { peer, caller: describeCaller(caller), identity, serial: serialOf(chainPem[0]) },
          'issued certificate',
        );
        callback(null, create(IstioCertificateResponseSchema, { certChain: chainPem }));
      },
      (err: unknown) => {
        const { code, details } = grpcStatusOf(err);
        const errCode = isAmbitError(err) ? err.code : undefined;
        const fields = { peer, code: errCode, grpcCode: status[code] };
        if (code === status.INTERNAL) {
          log.error({ ...fields, err: errorMessage(err) }, 'certificate request failed');
        } else {
          log.warn({ ...fields, reason: details }, 'certificate request rejected');
        }
        const e: Partial<ServiceError> = { code, details };
        callback(e as ServiceError, null);
      },
    );
  };
  return { definition, implementation: { createCertificate } };
}
