/**
 * SPIFFE IDs per the SPIFFE-ID spec, and Istio's workload form
 * `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 *
 * Rules enforced (spiffe/spiffe standards/SPIFFE-ID.md): scheme `spiffe`;
 * trust domain non-empty, lowercase `[a-z0-9._-]`, at most 255 bytes, no port
 * or userinfo; path segments `[a-zA-Z0-9._-]`, none empty, `.` or `..`; no
 * trailing slash, query or fragment; no percent-encoding; whole ID at most
 * 2048 bytes.
 */
import { AmbitError } from '../core/errors.js';
import { IdentityErrors } from './errors.js';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
const MAX_ID_BYTES = 2048;
const MAX_TD_BYTES = 255;
const TD_RE = /^[a-z0-9._-]+$/;
const SEGMENT_RE = /^[a-zA-Z0-9._-]+$/;

/** A parsed, validated SPIFFE ID. Immutable; compare with {@link SpiffeId.equals} or `.uri`. */
export class SpiffeId {
  private constructor(
    readonly trustDomain: string,
    /** Path including the leading slash, or "" for a trust-domain ID. */
    readonly path: string,
  ) {}

  get uri(): string {
    return `spiffe://${this.trustDomain}${this.path}`;
  }

  toString(): string {
    return this.uri;
  }

  toJSON(): string {
    return this.uri;
  }

  equals(other: SpiffeId): boolean {
    return this.uri === other.uri;
  }

  /** The Istio workload form's parts, or undefined if the path is not `/ns/<ns>/sa/<sa>`. */
  get workload(): { namespace: string; serviceAccount: string } | undefined {
    const m = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(this.path);
    if (!m) return undefined;
    return { namespace: m[1] as string, serviceAccount: m[2] as string };
  }

  static parse(input: string): SpiffeId {
    const fail = (why: string): never => {
      throw new AmbitError(
        IdentityErrors.SPIFFE_ID_INVALID,
        `invalid SPIFFE ID "${truncate(input)}": ${why}`,
      );
    };
    if (Buffer.byteLength(input) > MAX_ID_BYTES) fail(`longer than ${MAX_ID_BYTES} bytes`);
    if (!input.startsWith('spiffe://')) {
      fail(
        /^[a-z][a-z0-9+.-]*:/i.test(input)
          ? 'scheme must be "spiffe"'
          : 'missing "spiffe://" scheme',
      );
    }
    const rest = input.slice('spiffe://'.length);
    if (/[?#]/.test(rest)) fail('query and fragment are not allowed');
    if (rest.includes('%')) fail('percent-encoding is not allowed');
    const slash = rest.indexOf('/');
    const td = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash);
    validateTrustDomain(td, fail);
    if (path !== '') {
      if (path.endsWith('/')) fail('trailing "/" is not allowed');
      for (const seg of path.slice(1).split('/')) {
        if (seg === '') fail('empty path segment');
        if (seg === '.' || seg === '..') fail('"." and ".." path segments are not allowed');
        if (!SEGMENT_RE.test(seg))
          fail(`path segment "${seg}" has characters outside [a-zA-Z0-9._-]`);
      }
    }
    return new SpiffeId(td, path);
  }

  /** Parses, returning undefined instead of throwing. */
  static tryParse(input: string): SpiffeId | undefined {
    try {
      return SpiffeId.parse(input);
    } catch {
      return undefined;
    }
  }

  /** Istio's workload identity: spiffe://<td>/ns/<ns>/sa/<sa>. */
  static forWorkload(trustDomain: string, namespace: string, serviceAccount: string): SpiffeId {
    return SpiffeId.parse(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`);
  }

  static forTrustDomain(trustDomain: string): SpiffeId {
    return SpiffeId.parse(`spiffe://${trustDomain}`);
  }
}

/** Validates a bare trust domain name (e.g. from a flag). */
export function assertTrustDomain(td: string): string {
  validateTrustDomain(td, (why) => {
    throw new AmbitError(
      IdentityErrors.SPIFFE_ID_INVALID,
      `invalid trust domain "${truncate(td)}": ${why}`,
    );
  });
  return td;
}

function validateTrustDomain(td: string, fail: (why: string) => never): void {
  if (td === '') fail('trust domain is empty');
  if (td.includes('@')) fail('userinfo is not allowed in the trust domain');
  if (td.includes(':')) fail('a port is not allowed in the trust domain');
  if (Buffer.byteLength(td) > MAX_TD_BYTES) fail(`trust domain longer than ${MAX_TD_BYTES} bytes`);
  if (!TD_RE.test(td)) fail('trust domain must be lowercase [a-z0-9._-]');
}

function truncate(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
