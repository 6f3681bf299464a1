/**
 * Store snapshot → translation → xDS cache and CA identity table.
 *
 * Every snapshot is translated whole (translation is pure and cheap next to
 * a push), but only the diff against the previous translation reaches the
 * cache, so proxies get just what changed. The xDS server debounces.
 */
import type { Message } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import type { WorkloadIdentityTable } from '../controlplane/ca/index.js';
import type { Snapshot } from '../controlplane/discovery/index.js';
import {
  diff,
  resourcesByType,
  type TranslatedConfig,
  type TranslateOptions,
  type TranslationStatus,
  translate,
} from '../controlplane/translate/index.js';
import type { ResourceUpsert } from '../controlplane/xds/index.js';
import type { Address } from '../gen/istio/workload/workload_pb.js';
import { SpiffeId } from '../identity/index.js';
import { bytesToIp } from '../state/index.js';
import { logger } from '../telemetry/index.js';

const log = logger('controlplane');

/** Where translated resources go; the xDS ResourceCache fits (`apply`). */
export interface ConfigPublisher {
  publish(typeUrl: string, upserts: ReadonlyMap<string, ResourceUpsert>, removals: string[]): void;
}

/** Per-IP aliases Istio clients subscribe by on demand: `network/ip`. */
export function addressAliases(a: Address): string[] {
  const out: string[] = [];
  if (a.type.case === 'workload') {
    const w = a.type.value;
    for (const b of w.addresses) {
      const ip = bytesToIp(b);
      if (ip) out.push(`${w.network}/${ip}`);
    }
  } else if (a.type.case === 'service') {
    for (const na of a.type.value.addresses) {
      const ip = bytesToIp(na.address);
      if (ip) out.push(`${na.network}/${ip}`);
    }
  }
  return out;
}

/** uid → (node, SPIFFE ID) of every workload that runs on a node. */
function workloadIdentities(cfg: TranslatedConfig, trustDomain: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [uid, a] of cfg.addresses) {
    if (a.type.case !== 'workload') continue;
    const w = a.type.value;
    if (w.node === '' || w.namespace === '') continue;
    const td = w.trustDomain || trustDomain;
    // The workload API leaves defaults empty, as Istio's does: '' is the
    // namespace's `default` service account (pods that name none run as it).
    const sa = w.serviceAccount || 'default';
    const id = SpiffeId.tryParse(`spiffe://${td}/ns/${w.namespace}/sa/${sa}`);
    if (id) out.set(uid, `${w.node}\n${id.uri}`);
  }
  return out;
}

export interface TranslationPipelineOptions {
  publisher: ConfigPublisher;
  identities: WorkloadIdentityTable;
  translate: Partial<TranslateOptions> & { trustDomain: string };
  /** Called after each publish with the number of resources changed. */
  onPublished?: (changed: number, version: number) => void;
}

export class TranslationPipeline {
  private prev: TranslatedConfig | undefined;
  private prevIds = new Map<string, string>();
  private version = -1;

  constructor(private readonly opts: TranslationPipelineOptions) {}

  /** The store version last published; -1 before the first. */
  get publishedVersion(): number {
    return this.version;
  }

  /** Conditions from the last translation (half-applied policies, unready waypoints…). */
  statuses(): TranslationStatus[] {
    return this.prev?.statuses ?? [];
  }

  /** Translates a snapshot and publishes what changed since the last one. */
  apply(snapshot: Snapshot): void {
    const next = translate(snapshot.resources, this.opts.translate);
    // Identities first: a proxy that sees a new workload asks the CA right away.
    this.syncIdentities(workloadIdentities(next, this.opts.translate.trustDomain));
    const typed = resourcesByType(next);
    let changed = 0;
    for (const [typeUrl, d] of diff(this.prev, next)) {
      if (d.changed.length === 0 && d.removed.length === 0) continue;
      const t = typed.get(typeUrl);
      const upserts = new Map<string, ResourceUpsert>();
      for (const name of d.changed) {
        const msg = t?.resources.get(name) as Message | undefined;
        if (!t || !msg) continue;
        const aliases = typeUrl.endsWith('istio.workload.Address')
          ? addressAliases(msg as Address)
          : [];
        upserts.set(name, { message: anyPack(t.schema, msg), aliases });
      }
      this.opts.publisher.publish(typeUrl, upserts, d.removed);
      changed += upserts.size + d.removed.length;
    }
    this.prev = next;
    this.version = snapshot.version;
    log.debug({ version: snapshot.version, changed }, 'config translated');
    this.opts.onPublished?.(changed, snapshot.version);
  }

  private syncIdentities(next: Map<string, string>): void {
    const table = this.opts.identities;
    for (const [uid, entry] of next) {
      const old = this.prevIds.get(uid);
      if (old === entry) continue;
      if (old !== undefined) removeEntry(table, old);
      addEntry(table, entry);
    }
    for (const [uid, old] of this.prevIds) if (!next.has(uid)) removeEntry(table, old);
    this.prevIds = next;
  }
}

function split(entry: string): [string, string] {
  const i = entry.indexOf('\n');
  return [entry.slice(0, i), entry.slice(i + 1)];
}
function addEntry(t: WorkloadIdentityTable, e: string): void {
  t.add(...split(e));
}
function removeEntry(t: WorkloadIdentityTable, e: string): void {
  t.remove(...split(e));
}
