/**
 * The mesh certificate authority: signs workload CSRs into X.509-SVIDs with
 * Istio's issued-certificate profile, from a self-signed root (`init`) or a
 * plug-in intermediate under a company root (`load`).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { join } from 'node:path';
import { AmbitError, isAmbitError } from '../../core/errors.js';
import { assertTrustDomain, DEFAULT_TRUST_DOMAIN, SpiffeId } from '../../identity/index.js';
import {
  derToPem,
  keyIdentifier,
  parseCertificate,
  type SanInput,
  type SigningAlgorithm,
  signed,
  signingAlgorithm,
  splitPemCertificates,
  TrustBundle,
  verifyChain,
} from '../../tls/index.js';
import { checkCsrFor, parseCsr } from './csr.js';
import { CaErrors } from './errors.js';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CERT_CHAIN_FILE,
  ensureDir,
  existingCaFiles,
  ROOT_CERT_FILE,
  readCaFiles,
  writeFileAtomic,
} from './files.js';
import {
  authorityKeyIdExtension,
  leafExtensions,
  randomSerial,
  servingExtensions,
  tbsCertificate,
} from './profile.js';
import { createSelfSignedRoot } from './root.js';

/** Istio `DEFAULT_WORKLOAD_CERT_TTL`: 24 h. */
export const DEFAULT_CERT_TTL_MS = 24 * 3600_000;
/** Istio `MAX_WORKLOAD_CERT_TTL`: 90 days. */
export const MAX_CERT_TTL_MS = 90 * 86_400_000;
/** Istio `CITADEL_SELF_SIGNED_CA_CERT_TTL`: 10 years. */
export const ROOT_CERT_TTL_MS = 3650 * 86_400_000;
/** Istio `ClockSkewGracePeriod`: leaves are valid from 2 minutes in the past. */
export const CLOCK_SKEW_GRACE_MS = 2 * 60_000;

export interface CaOptions {
  /** Trust domain of issued identities. Default: the ca-cert's `spiffe://<td>` SAN, else cluster.local. */
  readonly trustDomain?: string;
  /** Lifetime when a request asks for none (≤ 0). Default 24 h. */
  readonly defaultTtlMs?: number;
  /** Longest lifetime a request may ask for; longer requests are refused. Default 90 days. */
  readonly maxTtlMs?: number;
}

export interface InitOptions extends CaOptions {
  /** Overwrite an existing CA in the directory. Default false. */
  readonly force?: boolean;
  /** Root certificate lifetime. Default 10 years. */
  readonly rootTtlMs?: number;
}

export interface SignOptions {
  /** The identity the caller is authorized for; the CSR must ask for exactly this one. */
  readonly identity: SpiffeId;
  /** Requested lifetime; ≤ 0 or absent means the default (24 h). */
  readonly ttlMs?: number;
}

export interface IssuedCertificate {
  /** PEM certificates: leaf, intermediates…, root (the Istio CA response order). */
  readonly chainPem: string[];
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface ServingCertificateRequest {
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Default 24 h; clamped to the signer's validity. */
  readonly ttlMs?: number;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  /** Trusted roots (old + new during a rotation). */
  readonly roots: TrustBundle;
  /** The signing certificate (the root itself for a self-signed CA). */
  readonly signer: X509Certificate;
  readonly #key: KeyObject;
  readonly #alg: SigningAlgorithm;
  readonly #issuerDer: Buffer;
  readonly #akiExt: Buffer;
  /** PEMs appended after each leaf: signer, intermediates…, root. */
  readonly #chainTail: readonly string[];
  readonly #signerNotAfter: number;
  readonly #defaultTtl: number;
  readonly #maxTtl: number;

  private constructor(
    signer: X509Certificate,
    key: KeyObject,
    chainTail: readonly string[],
    roots: TrustBundle,
    options: CaOptions,
  ) {
    const info = parseCertificate(signer);
    this.signer = signer;
    this.roots = roots;
    this.#key = key;
    this.#alg = signingAlgorithm(key);
    this.#issuerDer = info.subjectDer;
    this.#akiExt = authorityKeyIdExtension(info.subjectKeyId ?? keyIdentifier(info.spki));
    this.#chainTail = Object.freeze([...chainTail]);
    this.#signerNotAfter = info.notAfter.getTime();
    this.#defaultTtl = options.defaultTtlMs ?? DEFAULT_CERT_TTL_MS;
    this.#maxTtl = options.maxTtlMs ?? MAX_CERT_TTL_MS;
    const sanTd = info.san?.uris.map((u) => SpiffeId.tryParse(u)).find((id) => id?.path === '');
    this.trustDomain = assertTrustDomain(
      options.trustDomain ?? sanTd?.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    );
  }

  /**
   * Creates a self-signed ECDSA P-256 root in `dir` (Istio cacerts layout) and
   * returns a CA signing with it. Refuses (AMBIT_CA_ALREADY_EXISTS) if CA
   * files exist, unless `force`.
   */
  static init(dir: string, options: InitOptions = {}): CertificateAuthority {
    const trustDomain = assertTrustDomain(options.trustDomain ?? DEFAULT_TRUST_DOMAIN);
    const existing = existingCaFiles(dir);
    if (existing.length > 0 && !options.force) {
      throw new AmbitError(
        CaErrors.ALREADY_EXISTS,
        `a CA already exists in ${dir} (${existing.join(', ')}); use --force to replace it`,
        { details: { dir, files: existing } },
      );
    }
    ensureDir(dir);
    const root = createSelfSignedRoot(trustDomain, options.rootTtlMs ?? ROOT_CERT_TTL_MS);
    writeFileAtomic(join(dir, CA_KEY_FILE), root.keyPem, 0o600);
    writeFileAtomic(join(dir, CA_CERT_FILE), root.certPem);
    writeFileAtomic(join(dir, CERT_CHAIN_FILE), root.certPem);
    writeFileAtomic(join(dir, ROOT_CERT_FILE), root.certPem);
    return CertificateAuthority.load(dir, { ...options, trustDomain });
  }

  /**
   * Loads a CA from Istio's cacerts files: self-signed, or a plug-in
   * intermediate (cert-chain.pem = ca-cert, intermediates…, root). Checks
   * that ca-key matches ca-cert, ca-cert is a CA, and it chains to root-cert.
   */
  static load(dir: string, options: CaOptions = {}): CertificateAuthority {
    const files = readCaFiles(dir);
    const invalid = (why: string, cause?: unknown): AmbitError =>
      new AmbitError(CaErrors.FILES_INVALID, `CA in ${dir}: ${why}`, { cause, details: { dir } });
    let signer: X509Certificate;
    let roots: TrustBundle;
    let chainCerts: string[];
    try {
      signer = new X509Certificate(splitPemCertificates(files.caCert)[0] as string);
      roots = TrustBundle.fromPem(files.rootCert);
      chainCerts = files.certChain ? splitPemCertificates(files.certChain) : [];
    } catch (err) {
      throw invalid('unparsable certificate file', err);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(files.caKey);
    } catch (err) {
      throw invalid(`${CA_KEY_FILE} cannot be parsed`, err);
    }
    const spki = (k: KeyObject): Buffer => k.export({ format: 'der', type: 'spki' });
    if (!spki(createPublicKey(key)).equals(spki(signer.publicKey))) {
      throw invalid(`${CA_KEY_FILE} does not match ${CA_CERT_FILE}`);
    }
    const info = parseCertificate(signer);
    if (!info.basicConstraints?.cA || (info.keyUsage && !info.keyUsage.has('keyCertSign'))) {
      throw invalid(`${CA_CERT_FILE} is not a CA certificate (needs cA=true and keyCertSign)`);
    }
    let path: readonly X509Certificate[];
    try {
      path = verifyChain([signer, ...chainCerts.map((p) => new X509Certificate(p))], roots).path;
    } catch (err) {
      if (isAmbitError(err))
        throw invalid(`${CA_CERT_FILE} does not chain to ${ROOT_CERT_FILE}: ${err.message}`, err);
      throw err;
    }
    return new CertificateAuthority(
      signer,
      key,
      path.map((c) => c.toString()),
      roots,
      options,
    );
  }

  /**
   * Starts a root rotation in `dir`: a new self-signed root becomes the signer
   * and root-cert.pem holds new + old roots, so certificates from the old root
   * keep verifying. See docs/pki.md for the whole procedure.
   */
  static rotateRoot(
    dir: string,
    options: CaOptions & { rootTtlMs?: number } = {},
  ): CertificateAuthority {
    const current = CertificateAuthority.load(dir, options);
    if (!current.isSelfSigned) {
      throw new AmbitError(
        CaErrors.ROTATE_UNSUPPORTED,
        `the CA in ${dir} is a plug-in intermediate; rotate its root with the root's owner and replace the files`,
      );
    }
    const root = createSelfSignedRoot(current.trustDomain, options.rootTtlMs ?? ROOT_CERT_TTL_MS);
    const bundle = TrustBundle.fromPem([root.certPem, current.roots.toPem()]);
    writeFileAtomic(join(dir, ROOT_CERT_FILE), bundle.toPem());
    writeFileAtomic(join(dir, CA_KEY_FILE), root.keyPem, 0o600);
    writeFileAtomic(join(dir, CA_CERT_FILE), root.certPem);
    writeFileAtomic(join(dir, CERT_CHAIN_FILE), root.certPem);
    return CertificateAuthority.load(dir, { ...options, trustDomain: current.trustDomain });
  }

  /**
   * Ends a rotation: root-cert.pem keeps only the root the signer chains to.
   * Run it once every certificate from the old root has expired.
   */
  static finishRootRotation(dir: string, options: CaOptions = {}): CertificateAuthority {
    const current = CertificateAuthority.load(dir, options);
    const anchor = current.#chainTail[current.#chainTail.length - 1] as string;
    writeFileAtomic(join(dir, ROOT_CERT_FILE), anchor);
    return CertificateAuthority.load(dir, { ...options, trustDomain: current.trustDomain });
  }

  /** True when the signer is itself a trusted root (not a plug-in intermediate). */
  get isSelfSigned(): boolean {
    return this.roots.has(this.signer);
  }

  /** The trusted roots as PEM strings (one per root). */
  trustBundle(): string[] {
    return this.roots.pems;
  }

  /** The certificates appended to every leaf: signer, intermediates…, root. */
  get chainPem(): readonly string[] {
    return this.#chainTail;
  }

  /**
   * Signs a workload CSR for `identity`. Refuses (coded errors, nothing
   * issued) malformed or badly signed CSRs, CSRs for another identity, with
   * any SAN other than that one URI, or asking for a CA certificate.
   */
  sign(csrPem: string, options: SignOptions): IssuedCertificate {
    const { identity } = options;
    this.#checkIdentity(identity);
    const ttl = this.#ttl(options.ttlMs);
    const csr = parseCsr(csrPem);
    checkCsrFor(csr, identity);
    return this.#issue(csr.spki, ttl, leafExtensions(identity.uri, this.#akiExt));
  }

  /**
   * Issues a TLS server certificate with DNS/IP SANs (for the control plane's
   * own gRPC server on 15012), with a fresh ECDSA P-256 key.
   */
  issueServingCertificate(req: ServingCertificateRequest): { chainPem: string[]; keyPem: string } {
    const names = {
      dnsNames: req.dnsNames ?? [],
      ipAddresses: req.ipAddresses ?? [],
    } satisfies SanInput;
    if (names.dnsNames.length + names.ipAddresses.length === 0) {
      throw new AmbitError(
        CaErrors.CSR_SAN_REJECTED,
        'a serving certificate needs at least one DNS name or IP address',
      );
    }
    const ttl = this.#ttl(req.ttlMs);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const issued = this.#issue(spki, ttl, servingExtensions(names, this.#akiExt));
    return {
      chainPem: issued.chainPem,
      keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    };
  }

  #checkIdentity(identity: SpiffeId): void {
    if (identity.trustDomain !== this.trustDomain || identity.path === '') {
      throw new AmbitError(
        CaErrors.IDENTITY_NOT_ALLOWED,
        `identity ${identity.uri} is not a workload identity in trust domain ${this.trustDomain}`,
        { details: { identity: identity.uri, trustDomain: this.trustDomain } },
      );
    }
  }

  #ttl(requested: number | undefined): number {
    if (requested === undefined || !(requested > 0)) return this.#defaultTtl;
    if (requested > this.#maxTtl) {
      throw new AmbitError(
        CaErrors.TTL_TOO_LONG,
        `requested lifetime ${Math.round(requested / 1000)}s exceeds the maximum ${Math.round(this.#maxTtl / 1000)}s`,
        { details: { requestedMs: requested, maxMs: this.#maxTtl } },
      );
    }
    return requested;
  }

  #issue(spki: Buffer, ttl: number, extensions: Buffer): IssuedCertificate {
    const now = Date.now();
    if (now >= this.#signerNotAfter) {
      throw new AmbitError(
        CaErrors.SIGNER_EXPIRED,
        `the CA signing certificate expired at ${new Date(this.#signerNotAfter).toISOString()}`,
      );
    }
    // Whole seconds: X.509 times carry no fractions, and truncating keeps NotBefore ≤ now − 2 min.
    const notBefore = new Date(Math.floor((now - CLOCK_SKEW_GRACE_MS) / 1000) * 1000);
    const notAfter = new Date(Math.floor(Math.min(now + ttl, this.#signerNotAfter) / 1000) * 1000);
    const serial = randomSerial();
    const tbs = tbsCertificate({
      serial,
      algorithmDer: this.#alg.algorithmDer,
      issuerDer: this.#issuerDer,
      subjectDer: EMPTY_NAME,
      notBefore,
      notAfter,
      spki,
      extensions,
    });
    const cert = signed(tbs, this.#alg, this.#key);
    return {
      chainPem: [derToPem(cert, 'CERTIFICATE'), ...this.#chainTail],
      serialHex: serial.toString('hex'),
      notBefore,
      notAfter,
    };
  }
}

const EMPTY_NAME = Buffer.from([0x30, 0x00]);
