/**
 * Schema validation through the published typed models (kubernetes-models,
 * @kubernetes-models/istio, @kubernetes-models/gateway-api) rather than
 * hand-written schemas. Inputs are validated before analysis (a partial or
 * malformed object is reported and skipped); every converted object is
 * validated before it is written. ambit's own policy kinds have no published
 * model and are checked by the zod schemas in ambit-policies.ts.
 */
import { Gateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { ReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant';
import { WasmPlugin } from '@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1/DestinationRule';
import { Gateway as IstioGateway } from '@kubernetes-models/istio/networking.istio.io/v1/Gateway';
import { ServiceEntry } from '@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry';
import { Sidecar } from '@kubernetes-models/istio/networking.istio.io/v1/Sidecar';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1/VirtualService';
import { WorkloadEntry } from '@kubernetes-models/istio/networking.istio.io/v1/WorkloadEntry';
import { EnvoyFilter } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/EnvoyFilter';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication';
import { RequestAuthentication } from '@kubernetes-models/istio/security.istio.io/v1/RequestAuthentication';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Node } from 'kubernetes-models/v1/Node';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { validateAmbitPolicy } from './ambit-policies.js';

type ModelCtor = new (data: Record<string, unknown>) => { validate(): void };

interface ModelEntry {
  ctor: ModelCtor;
  /** The apiVersion the model validates; older served versions share its schema. */
  apiVersion: string;
}

function entry(ctor: unknown, apiVersion: string): ModelEntry {
  return { ctor: ctor as ModelCtor, apiVersion };
}

/** Models by "group/Kind" (core group is ""). */
const MODELS: ReadonlyMap<string, ModelEntry> = new Map([
  ['/Namespace', entry(Namespace, 'v1')],
  ['/Node', entry(Node, 'v1')],
  ['/Pod', entry(Pod, 'v1')],
  ['/Service', entry(Service, 'v1')],
  ['apps/Deployment', entry(Deployment, 'apps/v1')],
  ['apps/StatefulSet', entry(StatefulSet, 'apps/v1')],
  ['apps/DaemonSet', entry(DaemonSet, 'apps/v1')],
  ['apps/ReplicaSet', entry(ReplicaSet, 'apps/v1')],
  ['batch/Job', entry(Job, 'batch/v1')],
  ['batch/CronJob', entry(CronJob, 'batch/v1')],
  ['networking.k8s.io/NetworkPolicy', entry(NetworkPolicy, 'networking.k8s.io/v1')],
  ['networking.istio.io/VirtualService', entry(VirtualService, 'networking.istio.io/v1')],
  ['networking.istio.io/DestinationRule', entry(DestinationRule, 'networking.istio.io/v1')],
  ['networking.istio.io/ServiceEntry', entry(ServiceEntry, 'networking.istio.io/v1')],
  ['networking.istio.io/WorkloadEntry', entry(WorkloadEntry, 'networking.istio.io/v1')],
  ['networking.istio.io/Sidecar', entry(Sidecar, 'networking.istio.io/v1')],
  ['networking.istio.io/Gateway', entry(IstioGateway, 'networking.istio.io/v1')],
  ['networking.istio.io/EnvoyFilter', entry(EnvoyFilter, 'networking.istio.io/v1alpha3')],
  ['security.istio.io/AuthorizationPolicy', entry(AuthorizationPolicy, 'security.istio.io/v1')],
  ['security.istio.io/PeerAuthentication', entry(PeerAuthentication, 'security.istio.io/v1')],
  ['security.istio.io/RequestAuthentication', entry(RequestAuthentication, 'security.istio.io/v1')],
  ['extensions.istio.io/WasmPlugin', entry(WasmPlugin, 'extensions.istio.io/v1alpha1')],
  ['gateway.networking.k8s.io/HTTPRoute', entry(HTTPRoute, 'gateway.networking.k8s.io/v1')],
  ['gateway.networking.k8s.io/Gateway', entry(Gateway, 'gateway.networking.k8s.io/v1')],
  [
    'gateway.networking.k8s.io/ReferenceGrant',
    entry(ReferenceGrant, 'gateway.networking.k8s.io/v1beta1'),
  ],
]);

/** The API group of an apiVersion ("apps/v1" → "apps", "v1" → ""). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function kindKey(obj: Readonly<Record<string, unknown>>): string {
  return `${groupOf(String(obj.apiVersion))}/${String(obj.kind)}`;
}

export function hasModel(key: string): boolean {
  return MODELS.has(key);
}

/**
 * Validates an object against its published schema (or ambit's zod schema for
 * `policy.ambit.dev` kinds). Returns the first error message, or undefined if
 * valid. Objects of kinds without a model pass.
 */
export function schemaError(obj: Readonly<Record<string, unknown>>): string | undefined {
  const key = kindKey(obj);
  if (key.startsWith('policy.ambit.dev/')) return validateAmbitPolicy(obj);
  const model = MODELS.get(key);
  if (model === undefined) return undefined;
  try {
    // Served versions of one kind share a schema; validate against the model's.
    new model.ctor({ ...obj, apiVersion: model.apiVersion }).validate();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message.replace(/^Error: /, '') : String(err);
  }
}
