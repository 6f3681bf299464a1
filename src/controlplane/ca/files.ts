/**
 * Istio's `cacerts` directory layout (istio/istio samples/certs, plug-in CA):
 * ca-cert.pem (signing cert), ca-key.pem (its key, 0600), root-cert.pem
 * (trusted roots; old+new during a rotation), cert-chain.pem (ca-cert,
 * intermediates…, root).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../../core/errors.js';
import { CaErrors } from './errors.js';

export const CA_CERT_FILE = 'ca-cert.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const ROOT_CERT_FILE = 'root-cert.pem';
export const CERT_CHAIN_FILE = 'cert-chain.pem';
export const CA_FILES = [CA_CERT_FILE, CA_KEY_FILE, ROOT_CERT_FILE, CERT_CHAIN_FILE] as const;

export interface CaFiles {
  readonly caCert: string;
  readonly caKey: string;
  readonly rootCert: string;
  /** Absent in a minimal plug-in directory: then the chain is ca-cert alone. */
  readonly certChain: string | undefined;
}

export function readCaFiles(dir: string): CaFiles {
  const read = (name: string, required: boolean): string | undefined => {
    const p = join(dir, name);
    if (!existsSync(p)) {
      if (!required) return undefined;
      throw new AmbitError(CaErrors.FILES_MISSING, `CA file ${p} is missing`, {
        details: { dir, file: name },
      });
    }
    return readFileSync(p, 'utf8');
  };
  return {
    caCert: read(CA_CERT_FILE, true) as string,
    caKey: read(CA_KEY_FILE, true) as string,
    rootCert: read(ROOT_CERT_FILE, true) as string,
    certChain: read(CERT_CHAIN_FILE, false),
  };
}

/** Names of the CA files that already exist in `dir`. */
export function existingCaFiles(dir: string): string[] {
  return CA_FILES.filter((f) => existsSync(join(dir, f)));
}

/**
 * Writes a file atomically (temp file + rename) so a crash never leaves a
 * half-written key or bundle; `mode` 0o600 for private keys.
 */
export function writeFileAtomic(path: string, data: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode); // the umask may have narrowed or the file pre-existed
  renameSync(tmp, path);
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
}
