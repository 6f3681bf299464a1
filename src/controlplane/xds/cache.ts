/**
 * The versioned resource cache the xDS server pushes from. One map per type
 * URL, name → resource. Each resource is encoded ONCE per version, as the
 * ready-to-concatenate bytes of a `DeltaDiscoveryResponse.resources` field,
 * and those bytes are shared by every client it is sent to.
 *
 * Versions are content hashes, so re-applying identical content is a no-op:
 * nothing is marked changed and nothing is pushed.
 */
import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { Any } from '@bufbuild/protobuf/wkt';
import { ResourceSchema } from '../../gen/envoy/discovery/discovery_pb.js';

/** One resource to publish. */
export interface ResourceUpsert {
  /** The message, packed with `anyPack(schema, msg)`. */
  message: Any;
  /**
   * Version string. Default: a content hash of `message` and `aliases`
   * (16 hex chars). Supply one only if it is itself a content hash.
   */
  version?: string;
  /** Alternative names clients may subscribe by, e.g. `network/10.0.0.5` for an Address. */
  aliases?: readonly string[];
}

export interface ResourceDelta {
  upserts?: ReadonlyMap<string, ResourceUpsert>;
  removals?: readonly string[];
}

/** A resource as held by the cache. Immutable once created. */
export interface CachedResource {
  readonly name: string;
  readonly version: string;
  readonly aliases: readonly string[];
  /** Encoded `resources` field (tag 2 + length + Resource bytes). */
  readonly frame: Uint8Array;
  /** When this version entered the cache (performance.now(), ms). */
  readonly changedAt: number;
}

/** The names that changed in one `apply`, per type; removed names included. */
export interface CacheChange {
  typeUrl: string;
  names: readonly string[];
  at: number;
}

export type CacheListener = (change: CacheChange) => void;

class TypeTable {
  readonly resources = new Map<string, CachedResource>();
  /** alias → primary names carrying it. */
  readonly aliasIndex = new Map<string, Set<string>>();
  bytes = 0;

  index(r: CachedResource, add: boolean): void {
    for (const a of r.aliases) {
      let set = this.aliasIndex.get(a);
      if (add) {
        if (!set) {
          set = new Set();
          this.aliasIndex.set(a, set);
        }
        set.add(r.name);
      } else if (set) {
        set.delete(r.name);
        if (set.size === 0) this.aliasIndex.delete(a);
      }
    }
  }
}

export function contentVersion(message: Any, aliases: readonly string[]): string {
  const h = createHash('sha256').update(message.typeUrl).update('\0').update(message.value);
  for (const a of aliases) h.update('\0').update(a);
  return h.digest('hex').slice(0, 16);
}

function encodeFrame(name: string, version: string, aliases: readonly string[], message: Any) {
  const resource = toBinary(
    ResourceSchema,
    create(ResourceSchema, { name, version, aliases: [...aliases], resource: message }),
  );
  const w = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(resource).finish();
  // Copy into a right-sized Buffer (pooled for small ones) so the writer's scratch is freed.
  return Buffer.from(w);
}

export class ResourceCache {
  private readonly tables = new Map<string, TypeTable>();
  private readonly listeners = new Set<CacheListener>();
  private gen = 0;

  private table(typeUrl: string): TypeTable {
    let t = this.tables.get(typeUrl);
    if (!t) {
      t = new TypeTable();
      this.tables.set(typeUrl, t);
    }
    return t;
  }

  /**
   * Applies upserts and removals for one type; returns the names whose
   * content actually changed (unchanged upserts and unknown removals are
   * dropped) and notifies listeners when there is any.
   */
  apply(typeUrl: string, delta: ResourceDelta): string[] {
    const t = this.table(typeUrl);
    const at = performance.now();
    const changed: string[] = [];
    for (const [name, u] of delta.upserts ?? []) {
      const aliases = u.aliases ?? [];
      const version = u.version ?? contentVersion(u.message, aliases);
      const old = t.resources.get(name);
      if (old?.version === version) continue;
      const r: CachedResource = {
        name,
        version,
        aliases: [...aliases],
        frame: encodeFrame(name, version, aliases, u.message),
        changedAt: at,
      };
      if (old) {
        t.index(old, false);
        t.bytes -= old.frame.length;
      }
      t.resources.set(name, r);
      t.index(r, true);
      t.bytes += r.frame.length;
      changed.push(name);
    }
    for (const name of delta.removals ?? []) {
      const old = t.resources.get(name);
      if (!old) continue;
      t.index(old, false);
      t.bytes -= old.frame.length;
      t.resources.delete(name);
      changed.push(name);
    }
    if (changed.length > 0) {
      this.gen++;
      const change: CacheChange = { typeUrl, names: changed, at };
      for (const l of this.listeners) l(change);
    }
    return changed;
  }

  /** Replaces the whole content of a type: upserts everything given, removes the rest. */
  replace(typeUrl: string, all: ReadonlyMap<string, ResourceUpsert>): string[] {
    const removals = [...this.table(typeUrl).resources.keys()].filter((n) => !all.has(n));
    return this.apply(typeUrl, { upserts: all, removals });
  }

  get(typeUrl: string, name: string): CachedResource | undefined {
    return this.tables.get(typeUrl)?.resources.get(name);
  }

  /** Primary names carrying `alias` (empty if none). */
  resolveAlias(typeUrl: string, alias: string): ReadonlySet<string> {
    return this.tables.get(typeUrl)?.aliasIndex.get(alias) ?? EMPTY;
  }

  /** Live iteration over a type's resources (sees later inserts, skips deletes). */
  values(typeUrl: string): IterableIterator<CachedResource> {
    return this.table(typeUrl).resources.values();
  }

  size(typeUrl: string): number {
    return this.tables.get(typeUrl)?.resources.size ?? 0;
  }

  /** Encoded bytes held for a type. */
  bytes(typeUrl: string): number {
    return this.tables.get(typeUrl)?.bytes ?? 0;
  }

  typeUrls(): string[] {
    return [...this.tables.keys()];
  }

  /** Increments on every apply that changed something. */
  get generation(): number {
    return this.gen;
  }

  subscribe(listener: CacheListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const EMPTY: ReadonlySet<string> = new Set();
