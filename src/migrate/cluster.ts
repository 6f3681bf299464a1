/**
 * Reads the kinds migrate needs from a live cluster. @kubernetes/client-node
 * loads the kubeconfig and applies its credentials (certificates, tokens,
 * exec plugins); the list calls themselves are plain GETs so objects arrive
 * exactly as `kubectl get -o yaml` shows them. Kinds whose CRD is not
 * installed (404) are skipped; a forbidden kind becomes a problem.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '../core/errors.js';
import type { ManifestSet } from '../kube/index.js';
import { MigrateErrors } from './errors.js';

export interface ClusterSource {
  kubeconfig: string;
  context?: string;
  /** Per-request timeout in ms. Default 15000. */
  timeoutMs?: number;
}

interface Kind {
  group: string;
  versions: string[];
  plural: string;
}

/** What is listed, cluster-wide. Core and apps kinds first, then Istio and Gateway API. */
export const CLUSTER_KINDS: readonly Kind[] = [
  ...['namespaces', 'nodes', 'services', 'pods'].map((plural) => ({
    group: '',
    versions: ['v1'],
    plural,
  })),
  ...['deployments', 'statefulsets', 'daemonsets', 'replicasets'].map((plural) => ({
    group: 'apps',
    versions: ['v1'],
    plural,
  })),
  ...['jobs', 'cronjobs'].map((plural) => ({ group: 'batch', versions: ['v1'], plural })),
  { group: 'networking.k8s.io', versions: ['v1'], plural: 'networkpolicies' },
  ...['virtualservices', 'destinationrules', 'serviceentries', 'workloadentries', 'sidecars'].map(
    (plural) => ({
      group: 'networking.istio.io',
      versions: ['v1', 'v1beta1', 'v1alpha3'],
      plural,
    }),
  ),
  { group: 'networking.istio.io', versions: ['v1alpha3'], plural: 'envoyfilters' },
  ...['authorizationpolicies', 'peerauthentications', 'requestauthentications'].map((plural) => ({
    group: 'security.istio.io',
    versions: ['v1', 'v1beta1'],
    plural,
  })),
  { group: 'extensions.istio.io', versions: ['v1alpha1'], plural: 'wasmplugins' },
  { group: 'gateway.networking.k8s.io', versions: ['v1', 'v1beta1'], plural: 'httproutes' },
];

interface Response {
  status: number;
  body: string;
}

function get(url: URL, base: RequestOptions, timeoutMs: number): Promise<Response> {
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      { ...base, method: 'GET', headers: { ...base.headers, accept: 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function readCluster(src: ClusterSource): Promise<ManifestSet> {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(src.kubeconfig);
    if (src.context !== undefined) kc.setCurrentContext(src.context);
  } catch (err) {
    throw new AmbitError(
      MigrateErrors.CLUSTER_READ,
      `cannot load kubeconfig ${src.kubeconfig}: ${String(err)}`,
      { cause: err },
    );
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null)
    throw new AmbitError(
      MigrateErrors.CLUSTER_READ,
      `kubeconfig ${src.kubeconfig} has no current cluster`,
    );
  const base: RequestOptions = {};
  try {
    await kc.applyToHTTPSOptions(base);
  } catch (err) {
    throw new AmbitError(
      MigrateErrors.CLUSTER_READ,
      `cannot use the credentials of ${src.kubeconfig}: ${String(err)}`,
      { cause: err },
    );
  }
  const server = cluster.server.replace(/\/+$/, '');
  const set: ManifestSet = { objects: [], problems: [] };
  const timeoutMs = src.timeoutMs ?? 15_000;
  for (const kind of CLUSTER_KINDS) {
    for (const version of kind.versions) {
      const prefix = kind.group === '' ? `/api/${version}` : `/apis/${kind.group}/${version}`;
      const found = await listAll(
        new URL(`${server}${prefix}/${kind.plural}`),
        base,
        timeoutMs,
        set,
      );
      if (found) break;
    }
  }
  return set;
}

/** Lists one kind with pagination; false when the server does not serve it (404). */
async function listAll(
  url: URL,
  base: RequestOptions,
  timeoutMs: number,
  set: ManifestSet,
): Promise<boolean> {
  let cont = '';
  let page = 0;
  do {
    const u = new URL(url);
    u.searchParams.set('limit', '500');
    if (cont !== '') u.searchParams.set('continue', cont);
    let res: Response;
    try {
      res = await get(u, base, timeoutMs);
    } catch (err) {
      throw new AmbitError(MigrateErrors.CLUSTER_READ, `GET ${url.pathname}: ${String(err)}`, {
        cause: err,
      });
    }
    if (res.status === 404) return false;
    if (res.status !== 200) {
      set.problems.push({
        source: { file: url.toString(), document: page },
        message: `HTTP ${res.status}: not listed`,
      });
      return true;
    }
    const list = JSON.parse(res.body) as {
      apiVersion?: string;
      kind?: string;
      items?: Record<string, unknown>[];
      metadata?: { continue?: string };
    };
    const kind = (list.kind ?? '').replace(/List$/, '');
    (list.items ?? []).forEach((item) => {
      set.objects.push({
        object: { apiVersion: list.apiVersion, kind, ...item },
        source: { file: url.toString(), document: page },
      });
    });
    cont = list.metadata?.continue ?? '';
    page++;
  } while (cont !== '');
  return true;
}
