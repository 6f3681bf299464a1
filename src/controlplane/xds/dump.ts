/**
 * `/debug/config_dump`: what the cache holds. Without a name, a listing
 * (name, version, aliases, size) per type; with `type` and `name`, that one
 * resource decoded to JSON. Istio's Address and Authorization types decode
 * out of the box; other types (waypoint config) need their file in `registry`.
 */
import {
  createRegistry,
  fromBinary,
  type JsonValue,
  type Registry,
  toJson,
} from '@bufbuild/protobuf';
import {
  DeltaDiscoveryResponseSchema,
  ResourceSchema,
} from '../../gen/envoy/discovery/discovery_pb.js';
import { file_istio_security_authorization } from '../../gen/istio/security/authorization_pb.js';
import { file_istio_workload_workload } from '../../gen/istio/workload/workload_pb.js';
import { shortType } from '../../xds/index.js';
import type { ResourceCache } from './cache.js';

export interface ConfigDumpQuery {
  /** A type URL, or its short name (`wds`, `wads`). */
  type?: string;
  name?: string;
  /** Listing cap per type. Default 1000. */
  limit?: number;
}

const defaultRegistry = createRegistry(
  file_istio_workload_workload,
  file_istio_security_authorization,
);

export function configDump(
  cache: ResourceCache,
  query: ConfigDumpQuery,
  registry: Registry = defaultRegistry,
): JsonValue {
  const types = cache
    .typeUrls()
    .filter(
      (t) =>
        query.type === undefined ||
        t === query.type ||
        t.endsWith(`/${query.type}`) ||
        shortType(t) === query.type,
    );
  if (query.name !== undefined) {
    for (const t of types) {
      const r = cache.get(t, query.name);
      if (!r) continue;
      // A frame is itself a valid DeltaDiscoveryResponse holding one resource.
      const res = fromBinary(DeltaDiscoveryResponseSchema, r.frame).resources[0];
      if (!res) continue;
      try {
        return { typeUrl: t, resource: toJson(ResourceSchema, res, { registry }) };
      } catch {
        return {
          typeUrl: t,
          name: r.name,
          version: r.version,
          bytes: r.frame.length,
          decoded: false,
        };
      }
    }
    return null;
  }
  const limit = query.limit ?? 1000;
  const out: Record<string, JsonValue> = {};
  for (const t of types) {
    const items: JsonValue[] = [];
    for (const r of cache.values(t)) {
      if (items.length >= limit) break;
      items.push({
        name: r.name,
        version: r.version,
        aliases: [...r.aliases],
        bytes: r.frame.length,
      });
    }
    out[t] = { count: cache.size(t), bytes: cache.bytes(t), resources: items };
  }
  return out;
}
