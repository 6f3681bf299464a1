/**
 * {@link TokenReviewer} and {@link PodNodeLookup} backed by the Kubernetes API
 * (authentication.k8s.io/v1 TokenReview, core/v1 Pod). The CA's service
 * account needs `create` on `tokenreviews` and `get` on `pods`.
 */
import { AuthenticationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { PodNodeLookup, TokenReviewer, TokenReviewResult } from './kube-auth.js';

export class KubeTokenReviewer implements TokenReviewer {
  private readonly api: AuthenticationV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(AuthenticationV1Api);
  }

  async review(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    const res = await this.api.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [...audiences] },
      },
    });
    const status = res.status ?? {};
    return {
      authenticated: status.authenticated === true,
      username: status.user?.username,
      audiences: status.audiences,
      extra: status.user?.extra,
      error: status.error,
    };
  }
}

export class KubePodNodeLookup implements PodNodeLookup {
  private readonly api: CoreV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async nodeOfPod(namespace: string, name: string): Promise<string | undefined> {
    try {
      const pod = await this.api.readNamespacedPod({ namespace, name });
      return pod.spec?.nodeName || undefined;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }
}
