/** PEM framing: split bundles, convert between PEM and DER. */
import { AmbitError } from '../core/errors.js';
import { TlsErrors } from './errors.js';

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

export interface PemBlock {
  /** The label, e.g. "CERTIFICATE". */
  readonly label: string;
  readonly der: Buffer;
}

/** Every PEM block in `text`, in order. Text between blocks (comments) is ignored. */
export function decodePemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK_RE)) {
    const body = (m[2] as string).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0 || body.length === 0) {
      throw new AmbitError(TlsErrors.PEM_INVALID, `PEM block "${m[1]}" is not valid base64`);
    }
    out.push({ label: m[1] as string, der: Buffer.from(body, 'base64') });
  }
  return out;
}

/**
 * Splits a bundle into single-certificate PEM strings (order kept). Throws
 * AMBIT_TLS_PEM_INVALID if there is no CERTIFICATE block.
 */
export function splitPemCertificates(bundle: string): string[] {
  const blocks = decodePemBlocks(bundle).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) {
    throw new AmbitError(TlsErrors.PEM_INVALID, 'no CERTIFICATE block found in PEM text');
  }
  return blocks.map((b) => derToPem(b.der, 'CERTIFICATE'));
}

/** The DER of the single block with one of `labels`; throws if there is not exactly one. */
export function pemToDer(text: string, labels: readonly string[]): Buffer {
  const blocks = decodePemBlocks(text).filter((b) => labels.includes(b.label));
  if (blocks.length !== 1) {
    throw new AmbitError(
      TlsErrors.PEM_INVALID,
      `expected exactly one PEM block of type ${labels.join(' or ')}, found ${blocks.length}`,
    );
  }
  return (blocks[0] as PemBlock).der;
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
