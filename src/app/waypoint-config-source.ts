/**
 * Where the waypoint's routing config comes from: the control plane over
 * delta xDS (`ambit.waypoint.v1.WaypointService` / `ServiceEndpoints`) or a
 * local file for tests and single-host use. Both end in the ConfigStore; a
 * resource that does not compile is NACKed (xDS) or logged (file) and its
 * previous version stays in force.
 */
import { type FSWatcher, watch as fsWatch, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { parse as parseYaml } from 'yaml';
import type { WaypointConfig } from '../config/waypoint.js';
import { AmbitError, errorMessage } from '../core/errors.js';
import {
  type ServiceEndpoints,
  ServiceEndpointsSchema,
  type WaypointService,
  WaypointServiceSchema,
} from '../gen/ambit/waypoint_pb.js';
import { ipToBytes } from '../state/ip.js';
import { logger } from '../telemetry/index.js';
import type { ApplyResult as StoreResult } from '../waypoint/config.js';
import { type ConfigStore, WaypointErrors } from '../waypoint/index.js';
import { DeltaXdsClient, formatNodeId, type XdsUpdate } from '../xds/index.js';
import type { ConfigSource } from './ztunnel-config-source.js';

const log = logger('config');

export const WAYPOINT_SERVICE_TYPE_URL = 'type.googleapis.com/ambit.waypoint.v1.WaypointService';
export const SERVICE_ENDPOINTS_TYPE_URL = 'type.googleapis.com/ambit.waypoint.v1.ServiceEndpoints';

/** True when a pushed Service is served by this waypoint (`ns/name`); empty = any (local files). */
function mine(s: WaypointService, self: string): boolean {
  return s.waypoint === '' || s.waypoint === self;
}

function toXdsErrors(r: StoreResult): { errors: { name: string; message: string }[] } {
  return { errors: [...r.errors].map(([name, e]) => ({ name, message: e.message })) };
}

/** Delta xDS from the control plane. */
export class WaypointXdsSource implements ConfigSource {
  readonly client: DeltaXdsClient;

  constructor(store: ConfigStore, config: Readonly<WaypointConfig>) {
    const self = `${config.namespace}/${config.name}`;
    const rootCerts = config.caRootPath === undefined ? undefined : readFileSync(config.caRootPath);
    const tokenPath = config.tokenPath;
    // Services pushed to us but bound to another waypoint are dropped (and
    // forgotten if we held them), so a shared stream cannot mis-route.
    const held = new Set<string>();
    this.client = new DeltaXdsClient({
      address: (config.xdsAddress ?? '').replace(/^https?:\/\//, ''),
      node: {
        id: formatNodeId({
          type: 'waypoint',
          ip: config.instanceIp,
          podName: config.podName,
          namespace: config.namespace,
        }),
        metadata: {
          NAME: config.podName,
          NAMESPACE: config.namespace,
          NODE_NAME: config.nodeName,
          CLUSTER_ID: config.clusterId,
          SERVICE_ACCOUNT: config.serviceAccount,
          INSTANCE_IPS: config.instanceIp,
          WAYPOINT: self,
        },
      },
      ...(rootCerts === undefined
        ? { plaintext: true }
        : { tls: { rootCerts, serverName: config.caHostname } }),
      token:
        tokenPath === undefined
          ? undefined
          : async () => (await readFile(tokenPath, 'utf8')).trim(),
      handlers: [
        {
          typeUrl: WAYPOINT_SERVICE_TYPE_URL,
          apply: (u: XdsUpdate) => {
            const ups: WaypointService[] = [];
            const removed = [...u.removals];
            for (const r of u.upserts) {
              const s = anyUnpack(r.resource, WaypointServiceSchema);
              if (s === undefined) continue;
              if (mine(s, self)) {
                ups.push(s);
                held.add(r.name);
              } else if (held.delete(r.name)) removed.push(r.name);
            }
            for (const n of u.removals) held.delete(n);
            return toXdsErrors(store.applyServices(ups, removed));
          },
        },
        {
          typeUrl: SERVICE_ENDPOINTS_TYPE_URL,
          apply: (u: XdsUpdate) => {
            const ups = u.upserts.flatMap((r) => {
              const e = anyUnpack(r.resource, ServiceEndpointsSchema);
              return e === undefined ? [] : [e];
            });
            return toXdsErrors(store.applyEndpoints(ups, u.removals));
          },
        },
      ],
    });
  }

  async start(): Promise<void> {
    this.client.start();
    await this.client.synced;
  }

  dump(): unknown {
    return { kind: 'xds', ...this.client.state() };
  }

  close(): void {
    this.client.close();
  }
}

/** Base64 of an IP written as text (the local file's convenience); other strings pass through. */
function ipField(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const b = ipToBytes(v);
  return b === undefined ? v : Buffer.from(b).toString('base64');
}

/**
 * Parses the local file: `{services: [WaypointService…], endpoints:
 * [ServiceEndpoints…]}` in protobuf JSON (camelCase), YAML or JSON, where
 * `vips` and endpoint `address` may be written as IP text.
 */
export function parseLocalWaypointConfig(text: string): {
  services: WaypointService[];
  endpoints: ServiceEndpoints[];
} {
  let doc: { services?: unknown[]; endpoints?: unknown[] };
  try {
    doc = (parseYaml(text) ?? {}) as typeof doc;
    const services = (doc.services ?? []).map((raw) => {
      const s = { ...(raw as Record<string, unknown>) };
      if (Array.isArray(s.vips)) s.vips = s.vips.map(ipField);
      return fromJson(WaypointServiceSchema, s as JsonValue);
    });
    const endpoints = (doc.endpoints ?? []).map((raw) => {
      const e = { ...(raw as Record<string, unknown>) };
      if (Array.isArray(e.endpoints))
        e.endpoints = e.endpoints.map((ep: Record<string, unknown>) => ({
          ...ep,
          address: ipField(ep.address),
        }));
      return fromJson(ServiceEndpointsSchema, e as JsonValue);
    });
    return { services, endpoints };
  } catch (err) {
    throw new AmbitError(
      WaypointErrors.CONFIG_INVALID,
      `local waypoint config: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/** The local file, re-read when it changes (whole replacement). */
export class WaypointFileSource implements ConfigSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  private reloads = 0;

  constructor(
    private readonly store: ConfigStore,
    private readonly path: string,
    private readonly self: string,
  ) {}

  async start(): Promise<void> {
    this.apply(readFileSync(this.path, 'utf8'));
    this.watcher = fsWatch(dirname(this.path), (_e, name) => {
      if (name !== null && name !== basename(this.path)) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), 50);
      this.timer.unref();
    });
    this.watcher.unref();
  }

  async reload(): Promise<void> {
    try {
      this.apply(await readFile(this.path, 'utf8'));
      this.reloads += 1;
    } catch (err) {
      this.lastError = errorMessage(err);
      log.error({ path: this.path, err: this.lastError }, 'waypoint config not applied');
    }
  }

  private apply(text: string): void {
    const cfg = parseLocalWaypointConfig(text);
    const snap = this.store.snapshot();
    const services = cfg.services.filter((s) => mine(s, this.self));
    const keep = new Set(services.map((s) => `${s.namespace}/${s.hostname}`));
    const keepEp = new Set(cfg.endpoints.map((e) => `${e.namespace}/${e.hostname}`));
    const r1 = this.store.applyServices(
      services,
      [...snap.services.keys()].filter((k) => !keep.has(k)),
    );
    const r2 = this.store.applyEndpoints(
      cfg.endpoints,
      [...snap.endpoints.keys()].filter((k) => !keepEp.has(k)),
    );
    const errors = [...r1.errors, ...r2.errors].map(([n, e]) => `${n}: ${e.message}`);
    this.lastError = errors.length > 0 ? errors.join('; ') : undefined;
    if (errors.length > 0) log.error({ errors }, 'waypoint config resources rejected');
    log.info(
      { path: this.path, services: services.length, endpoints: cfg.endpoints.length },
      'waypoint config applied',
    );
  }

  dump(): unknown {
    return { kind: 'local', path: this.path, reloads: this.reloads, lastError: this.lastError };
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
