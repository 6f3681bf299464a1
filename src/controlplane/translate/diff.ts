/**
 * Per-type-URL views of a TranslatedConfig and the difference between two,
 * so the delta xDS server pushes only resources whose content changed and
 * tells clients which names went away.
 */
import { type DescMessage, equals, type Message } from '@bufbuild/protobuf';
import { ServiceEndpointsSchema, WaypointServiceSchema } from '../../gen/ambit/waypoint_pb.js';
import { AuthorizationSchema } from '../../gen/istio/security/authorization_pb.js';
import { AddressSchema } from '../../gen/istio/workload/workload_pb.js';
import type { TranslatedConfig } from './translate.js';

export const TYPE_URLS = {
  address: 'type.googleapis.com/istio.workload.Address',
  authorization: 'type.googleapis.com/istio.security.Authorization',
  waypointService: 'type.googleapis.com/ambit.waypoint.v1.WaypointService',
  serviceEndpoints: 'type.googleapis.com/ambit.waypoint.v1.ServiceEndpoints',
} as const;

export type TypeUrl = (typeof TYPE_URLS)[keyof typeof TYPE_URLS];

export interface TypedResources {
  schema: DescMessage;
  resources: ReadonlyMap<string, Message>;
}

/** The config as type URL → (schema, name → message). */
export function resourcesByType(cfg: TranslatedConfig): Map<TypeUrl, TypedResources> {
  return new Map<TypeUrl, TypedResources>([
    [TYPE_URLS.address, { schema: AddressSchema, resources: cfg.addresses }],
    [TYPE_URLS.authorization, { schema: AuthorizationSchema, resources: cfg.authorizations }],
    [
      TYPE_URLS.waypointService,
      { schema: WaypointServiceSchema, resources: cfg.waypoint.services },
    ],
    [
      TYPE_URLS.serviceEndpoints,
      { schema: ServiceEndpointsSchema, resources: cfg.waypoint.endpoints },
    ],
  ]);
}

export interface TypeDiff {
  /** Added or changed names, sorted. */
  changed: string[];
  /** Names no longer present, sorted. */
  removed: string[];
}

/** Changed/removed names per type URL; every type URL is present (empty lists = no change). */
export function diff(
  prev: TranslatedConfig | undefined,
  next: TranslatedConfig,
): Map<TypeUrl, TypeDiff> {
  const out = new Map<TypeUrl, TypeDiff>();
  const before = prev ? resourcesByType(prev) : undefined;
  for (const [url, { schema, resources }] of resourcesByType(next)) {
    const old = before?.get(url)?.resources ?? new Map<string, Message>();
    const changed: string[] = [];
    for (const [name, msg] of resources) {
      const o = old.get(name);
      if (!o || !equals(schema, o, msg)) changed.push(name);
    }
    const removed = [...old.keys()].filter((n) => !resources.has(n));
    out.set(url, { changed: changed.sort(), removed: removed.sort() });
  }
  return out;
}

/** True when a diff carries no change at all. */
export function isEmptyDiff(d: ReadonlyMap<TypeUrl, TypeDiff>): boolean {
  for (const v of d.values()) if (v.changed.length > 0 || v.removed.length > 0) return false;
  return true;
}
