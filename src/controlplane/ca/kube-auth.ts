/**
 * Kubernetes mode: the caller sends a projected service-account token with
 * audience `istio-ca`; the API server reviews it (TokenReview).
 *
 * A token of a trusted node account (default `istio-system/ztunnel`, like
 * istiod's `CA_TRUSTED_NODE_ACCOUNTS`) makes the caller a node proxy for the
 * node its pod runs on: the node comes from the token's bound node claim
 * (`authentication.kubernetes.io/node-name`, Kubernetes ≥ 1.30) or, failing
 * that, from a lookup of the bound pod. Any other service account is a
 * workload that may only get its own identity.
 */
import { AmbitError } from '../../core/errors.js';
import { SpiffeId } from '../../identity/index.js';
import type { Authenticator, CallCredentials, Caller } from './auth.js';
import { bearerToken, unauthenticated } from './auth.js';
import { CaServiceErrors } from './service-errors.js';

/** The answer of a TokenReview, reduced to what the CA uses. */
export interface TokenReviewResult {
  authenticated: boolean;
  /** e.g. `system:serviceaccount:shop:frontend`. */
  username?: string;
  /** Audiences the token is valid for (the intersection with the requested ones). */
  audiences?: readonly string[];
  /** `user.extra` of the review: bound pod and node claims. */
  extra?: Readonly<Record<string, readonly string[]>>;
  /** The API server's reason when not authenticated. */
  error?: string;
}

/** Reviews a token. Rejects only when the review itself could not be done. */
export interface TokenReviewer {
  review(token: string, audiences: readonly string[]): Promise<TokenReviewResult>;
}

/** Finds the node a pod is scheduled on (undefined if the pod is unknown or unscheduled). */
export interface PodNodeLookup {
  nodeOfPod(namespace: string, name: string): Promise<string | undefined>;
}

export const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';
export const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
/** Audience the CA requires, as istiod. */
export const CA_AUDIENCE = 'istio-ca';
/** Default trusted node accounts, `namespace/serviceaccount`. */
export const DEFAULT_TRUSTED_NODE_ACCOUNTS: readonly string[] = ['istio-system/ztunnel'];

export interface KubernetesTokenAuthenticatorOptions {
  reviewer: TokenReviewer;
  /** Trust domain of issued identities. */
  trustDomain: string;
  /** Required token audience. Default `istio-ca`. */
  audience?: string;
  /** `namespace/serviceaccount` entries that act for their node. Default `istio-system/ztunnel`. */
  trustedNodeAccounts?: readonly string[];
  /** Used when a node account's token has a bound pod but no bound node claim. */
  podLookup?: PodNodeLookup;
}

/** A short reason for a backend failure: HTTP status or errno code, never a response body. */
function backendReason(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown };
  if (typeof e?.code === 'number') return `HTTP ${e.code}`;
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.name === 'string' ? e.name : 'unknown error';
}

const SA_USER_RE = /^system:serviceaccount:([^:]+):([^:]+)$/;

export class KubernetesTokenAuthenticator implements Authenticator {
  readonly name = 'kubernetes';
  private readonly audience: string;
  private readonly trusted: ReadonlySet<string>;

  constructor(private readonly opts: KubernetesTokenAuthenticatorOptions) {
    this.audience = opts.audience ?? CA_AUDIENCE;
    this.trusted = new Set(opts.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS);
  }

  async authenticate(credentials: CallCredentials): Promise<Caller | undefined> {
    const token = bearerToken(credentials);
    if (token === undefined) return undefined;
    let review: TokenReviewResult;
    try {
      review = await this.opts.reviewer.review(token, [this.audience]);
    } catch (err) {
      // No cause attached: API errors may carry the response body, and a
      // TokenReview echoes the token.
      throw new AmbitError(
        CaServiceErrors.AUTH_BACKEND_UNAVAILABLE,
        `token review failed: ${backendReason(err)}`,
      );
    }
    if (!review.authenticated) {
      throw unauthenticated(
        `token rejected by the API server: ${review.error ?? 'not authenticated'}`,
      );
    }
    if (review.audiences && !review.audiences.includes(this.audience)) {
      throw unauthenticated(`token is not valid for audience "${this.audience}"`);
    }
    const m = SA_USER_RE.exec(review.username ?? '');
    if (!m) throw unauthenticated('token does not belong to a service account');
    const [, namespace, serviceAccount] = m as unknown as [string, string, string];
    const identity = SpiffeId.forWorkload(this.opts.trustDomain, namespace, serviceAccount).uri;
    if (!this.trusted.has(`${namespace}/${serviceAccount}`)) {
      return { kind: 'workload', identity, via: 'kubernetes' };
    }
    const node = await this.nodeOf(namespace, review.extra ?? {});
    return { kind: 'node', node, identity, via: 'kubernetes' };
  }

  private async nodeOf(
    namespace: string,
    extra: Readonly<Record<string, readonly string[]>>,
  ): Promise<string> {
    const bound = extra[EXTRA_NODE_NAME]?.[0];
    if (bound) return bound;
    const pod = extra[EXTRA_POD_NAME]?.[0];
    if (!pod) throw unauthenticated('node account token is not bound to a pod or node');
    if (!this.opts.podLookup) {
      throw unauthenticated(
        'node account token has no node claim and pod lookup is not configured',
      );
    }
    let node: string | undefined;
    try {
      node = await this.opts.podLookup.nodeOfPod(namespace, pod);
    } catch (err) {
      throw new AmbitError(
        CaServiceErrors.AUTH_BACKEND_UNAVAILABLE,
        `pod lookup for ${namespace}/${pod} failed: ${backendReason(err)}`,
      );
    }
    if (!node) throw unauthenticated(`bound pod ${namespace}/${pod} is not scheduled on any node`);
    return node;
  }
}
