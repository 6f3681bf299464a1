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
import { SpiffeId } from '../../identity/index.js';
import { logger } from '../../telemetry/index.js';
import type { Authenticator, CallCredentials, Caller } from './auth.js';
import { describeCaller } from './authorize.js';
import { parseCsr } from './csr.js';
import { CaErrors } from './errors.js';
import { CaServiceErrors } from './service-errors.js';

/** Signs a CSR for an identity; {@link CertificateAuthority} fits. */
export interface CertificateSigner {
  readonly trustDomain: string;
  /**
   * @param opts.ttlMs requested lifetime; ≤ 0 means the signer's default.
   * @returns PEM certificates, leaf first, root last.
   */
  sign(
    csrPem: string,
    opts: { identity: SpiffeId; ttlMs?: number },
  ): { chainPem: string[] } | Promise<{ chainPem: string[] }>;
}

/** Decides whether a caller may get an identity; throws `AMBIT_CA_PERMISSION_DENIED` if not. */
export interface IdentityAuthorizer {
  authorize(caller: Caller, identity: string): void;
}

export const IMPERSONATED_IDENTITY_KEY = 'ImpersonatedIdentity';

export interface CaServiceOptions {
  authenticator: Authenticator;
  authorizer: IdentityAuthorizer;
  /** Issues the certificate; its trust domain bounds what may be requested. */
  signer: CertificateSigner;
  /**
   * False while the authorizer's view is not loaded (a control plane before its first
   * config): requests then fail UNAVAILABLE, which clients retry. Default: always ready.
   */
  ready?: () => boolean;
}

export type CaServiceDefinition = GrpcServiceDefinition<(typeof IstioCertificateService)['method']>;

const log = logger('ca');

const STATUS_OF: Readonly<Record<string, status>> = {
  [CaServiceErrors.UNAUTHENTICATED]: status.UNAUTHENTICATED,
  [CaServiceErrors.PERMISSION_DENIED]: status.PERMISSION_DENIED,
  [CaErrors.IDENTITY_NOT_ALLOWED]: status.PERMISSION_DENIED,
  [CaServiceErrors.INVALID_REQUEST]: status.INVALID_ARGUMENT,
  [CaErrors.CSR_MALFORMED]: status.INVALID_ARGUMENT,
  [CaErrors.CSR_SIGNATURE_INVALID]: status.INVALID_ARGUMENT,
  [CaErrors.CSR_IDENTITY_MISMATCH]: status.INVALID_ARGUMENT,
  [CaErrors.CSR_SAN_REJECTED]: status.INVALID_ARGUMENT,
  [CaErrors.CSR_CA_REQUESTED]: status.INVALID_ARGUMENT,
  [CaErrors.TTL_TOO_LONG]: status.INVALID_ARGUMENT,
  [CaServiceErrors.AUTH_BACKEND_UNAVAILABLE]: status.UNAVAILABLE,
  [CaServiceErrors.NOT_READY]: status.UNAVAILABLE,
};

function invalid(reason: string): AmbitError {
  return new AmbitError(CaServiceErrors.INVALID_REQUEST, reason);
}

/** The CA request handler, independent of gRPC so it can be tested and reused. */
export class CertificateService {
  constructor(private readonly opts: CaServiceOptions) {}

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
    if (this.opts.ready?.() === false) {
      throw new AmbitError(
        CaServiceErrors.NOT_READY,
        'the control plane has not loaded its config yet; retry shortly',
      );
    }
    if (req.validityDuration < 0n) {
      throw invalid(`validity_duration ${req.validityDuration}s is negative`);
    }
    // Above any sane maximum; the signer enforces the real one (TTL_TOO_LONG).
    const ttlMs =
      Number(req.validityDuration > 10n ** 12n ? 10n ** 12n : req.validityDuration) * 1000;
    const impersonated = impersonatedIdentity(req.metadata?.[IMPERSONATED_IDENTITY_KEY]);
    const identity = csrIdentity(req.csr);
    if (impersonated !== undefined && impersonated !== identity.uri) {
      throw new AmbitError(
        CaErrors.CSR_IDENTITY_MISMATCH,
        `CSR identity ${identity.uri} does not match requested identity ${impersonated.slice(0, 200)}`,
      );
    }
    const td = this.opts.signer.trustDomain;
    if (identity.trustDomain !== td || identity.path === '') {
      throw new AmbitError(
        CaErrors.IDENTITY_NOT_ALLOWED,
        `${describeCaller(caller)} may not request ${identity.uri}: not a workload identity in trust domain "${td}"`,
      );
    }
    this.opts.authorizer.authorize(caller, identity.uri);
    const { chainPem } = await this.opts.signer.sign(req.csr, { identity, ttlMs });
    return { chainPem, caller, identity: identity.uri };
  }
}

/** The SPIFFE ID in the CSR's single URI SAN (CSR signature checked). */
function csrIdentity(csrPem: string): SpiffeId {
  const san = parseCsr(csrPem).san;
  const uri = san?.uris.length === 1 ? san.uris[0] : undefined;
  const id = uri === undefined ? undefined : SpiffeId.tryParse(uri);
  if (id === undefined) {
    throw new AmbitError(
      CaErrors.CSR_SAN_REJECTED,
      'CSR must carry exactly one URI SAN holding a valid SPIFFE ID',
    );
  }
  return id;
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
