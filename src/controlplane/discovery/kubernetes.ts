/**
 * Desired state from a Kubernetes API server: one informer (list + watch)
 * per kind ambit understands, feeding the ConfigStore object by object.
 *
 * A failed informer is restarted with capped exponential backoff; on restart
 * it re-lists, and objects that disappeared while it was down are removed
 * (the informer's cache diff emits deletes). `synced` resolves once every
 * informer has completed its first list, so the xDS server does not push a
 * partial view first. Informers are injectable: the unit tests drive fake
 * ones, no API server is needed (the real-cluster test is a later issue).
 */
import { Backoff, type BackoffOptions, type Drain } from '../../core/index.js';
import { logger } from '../../telemetry/index.js';
import type { ConfigStore } from './store.js';

const log = logger('controlplane.discovery');

/** The part of @kubernetes/client-node's Informer that the source uses. */
export interface InformerLike {
  on(verb: 'add' | 'update' | 'delete', cb: (obj: KubeObject) => void): void;
  on(verb: 'error' | 'connect', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}

export interface WatchedKind {
  group: string;
  version: string;
  /** Resource name in URLs, e.g. `pods`, `authorizationpolicies`. */
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** The kinds ambit reads from the API server. */
export const WATCHED_KINDS: readonly WatchedKind[] = [
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  {
    group: 'security.istio.io',
    version: 'v1',
    plural: 'authorizationpolicies',
    kind: 'AuthorizationPolicy',
    namespaced: true,
  },
  {
    group: 'security.istio.io',
    version: 'v1',
    plural: 'peerauthentications',
    kind: 'PeerAuthentication',
    namespaced: true,
  },
  {
    group: 'networking.istio.io',
    version: 'v1',
    plural: 'destinationrules',
    kind: 'DestinationRule',
    namespaced: true,
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'gateways',
    kind: 'Gateway',
    namespaced: true,
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'httproutes',
    kind: 'HTTPRoute',
    namespaced: true,
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'grpcroutes',
    kind: 'GRPCRoute',
    namespaced: true,
  },
  {
    group: 'policy.ambit.dev',
    version: 'v1alpha1',
    plural: 'backendpolicies',
    kind: 'BackendPolicy',
    namespaced: true,
  },
  {
    group: 'policy.ambit.dev',
    version: 'v1alpha1',
    plural: 'ratelimitpolicies',
    kind: 'RateLimitPolicy',
    namespaced: true,
  },
];

export type InformerFactory = (kind: WatchedKind) => InformerLike;

export interface KubernetesSourceOptions {
  /** Makes the informers. Default: @kubernetes/client-node with kubeconfig or in-cluster config. */
  informerFactory?: InformerFactory;
  kinds?: readonly WatchedKind[];
  /** Restart backoff. Default 1 s doubling to 30 s. */
  backoff?: BackoffOptions;
  drain?: Drain;
}

export const KUBERNETES_ORIGIN = 'kubernetes';

export class KubernetesSource {
  /** Resolves when every informer has finished its first list. */
  readonly synced: Promise<void>;
  private markSynced: () => void = () => {};
  private readonly pending: Set<string>;
  private readonly informers = new Map<string, InformerLike>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly kinds: readonly WatchedKind[];
  private readonly factory: InformerFactory | undefined;
  private readonly backoffOptions: BackoffOptions;

  constructor(
    private readonly store: ConfigStore,
    options: KubernetesSourceOptions = {},
  ) {
    this.kinds = options.kinds ?? WATCHED_KINDS;
    this.factory = options.informerFactory;
    this.backoffOptions = options.backoff ?? { initialMs: 1000, maxMs: 30_000 };
    this.pending = new Set(this.kinds.map((k) => k.plural));
    this.synced = new Promise((resolve) => {
      this.markSynced = resolve;
    });
    if (this.pending.size === 0) this.markSynced();
    options.drain?.register({
      name: 'kubernetes source',
      graceful: () => this.stop(),
      force: () => void this.stop(),
    });
  }

  async start(): Promise<void> {
    const factory = this.factory ?? (await defaultInformerFactory());
    for (const kind of this.kinds) this.run(kind, factory, new Backoff(this.backoffOptions));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.informers.values()].map((i) => i.stop()));
    this.informers.clear();
  }

  /** plural → `ns/name` of objects currently held, to drop what vanished while an informer was down. */
  private readonly known = new Map<string, Set<string>>();

  private run(kind: WatchedKind, factory: InformerFactory, backoff: Backoff): void {
    if (this.stopped) return;
    const known = this.known.get(kind.plural) ?? new Set<string>();
    this.known.set(kind.plural, known);
    const relisted = new Set<string>();
    const idOf = (obj: KubeObject) =>
      `${kind.namespaced ? (obj.metadata?.namespace ?? 'default') : ''}/${obj.metadata?.name ?? ''}`;
    const inf = factory(kind);
    this.informers.set(kind.plural, inf);
    const apiVersion = kind.group === '' ? kind.version : `${kind.group}/${kind.version}`;
    const put = (obj: KubeObject) => {
      known.add(idOf(obj));
      relisted.add(idOf(obj));
      // Informers' list items carry no apiVersion/kind: restore them.
      this.store.putObject(
        KUBERNETES_ORIGIN,
        { ...obj, apiVersion, kind: kind.kind },
        { file: `kubernetes ${kind.plural}`, document: 0 },
      );
    };
    inf.on('add', put);
    inf.on('update', put);
    inf.on('delete', (obj) => {
      known.delete(idOf(obj));
      const ns = kind.namespaced ? (obj.metadata?.namespace ?? 'default') : '';
      this.store.removeObject(KUBERNETES_ORIGIN, kind.kind, ns, obj.metadata?.name ?? '');
    });
    let failed = false;
    const restart = (err: unknown) => {
      if (failed || this.stopped) return;
      failed = true;
      const delay = backoff.next();
      log.warn(
        { kind: kind.plural, err: String(err), delayMs: Math.round(delay) },
        'informer failed; restarting',
      );
      void inf.stop().catch(() => {});
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.run(kind, factory, backoff);
      }, delay);
      this.timers.add(t);
    };
    inf.on('error', restart);
    inf.on('connect', () => backoff.reset());
    inf.start().then(() => {
      // Objects we held that the fresh list no longer has were deleted while we were away.
      for (const id of [...known]) {
        if (relisted.has(id)) continue;
        known.delete(id);
        const slash = id.indexOf('/');
        this.store.removeObject(
          KUBERNETES_ORIGIN,
          kind.kind,
          id.slice(0, slash),
          id.slice(slash + 1),
        );
      }
      if (this.pending.delete(kind.plural) && this.pending.size === 0) this.markSynced();
    }, restart);
  }
}

/** Informers from @kubernetes/client-node, kubeconfig (KUBECONFIG, ~/.kube/config) or in-cluster. */
async function defaultInformerFactory(): Promise<InformerFactory> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const lists: Record<string, () => Promise<unknown>> = {
    namespaces: () => core.listNamespace(),
    serviceaccounts: () => core.listServiceAccountForAllNamespaces(),
    pods: () => core.listPodForAllNamespaces(),
    services: () => core.listServiceForAllNamespaces(),
    deployments: () => apps.listDeploymentForAllNamespaces(),
  };
  return (kind) => {
    const base = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
    const list =
      lists[kind.plural] ??
      (() =>
        custom.listCustomObjectForAllNamespaces({
          group: kind.group,
          version: kind.version,
          plural: kind.plural,
        }));
    // The informer's list type is the client's generic list object; our lists return exactly that.
    return k8s.makeInformer(kc, `${base}/${kind.plural}`, list as never) as unknown as InformerLike;
  };
}
