/**
 * One client's subscription to one type URL, and what it still has to be sent.
 *
 * Two modes, as in the delta xDS spec:
 * - wildcard: the client wants every resource of the type. Nothing per
 *   resource is stored once the initial sync is done: the client is, by
 *   construction, in sync with the cache minus the change batches queued
 *   here (shared arrays, not copies). That keeps 1000 wildcard clients of a
 *   100k-resource type cheap.
 * - explicit (on-demand): the client names resources, by primary name or by
 *   alias (`network/10.0.0.5`). `sent` records what it holds so removals and
 *   unsubscribes are exact.
 *
 * Pending work is always a set of NAMES resolved against the cache when the
 * response is built, so a slow client only ever gets the latest version of a
 * resource, never a backlog of intermediate ones.
 */
import { WILDCARD } from '../../xds/index.js';
import type { CachedResource, ResourceCache } from './cache.js';

/** Above this many queued change batches, merge them into one set. */
const MAX_BATCHES = 8;

export interface Chunk {
  resources: CachedResource[];
  removed: string[];
  /** Earliest cache-change time of what the chunk carries, if it carries changes. */
  changeAt: number | undefined;
}

export class Subscription {
  wildcard = false;
  /** Explicitly subscribed names (primary or alias). */
  readonly names = new Set<string>();
  /** Explicit mode: name → version the client holds. */
  private sent = new Map<string, string>();
  /** Wildcard initial sync: versions the client holds, and the walk over the cache. */
  private known: Map<string, string> | undefined;
  private cursor: Iterator<CachedResource> | undefined;
  private batches: (readonly string[])[] = [];
  private dirty = new Set<string>();
  /** Subscribed names that resolve to nothing: answered in removed_resources. */
  private notFound = new Set<string>();
  private changeAt: number | undefined;
  /** The first request of a type always gets a response, even an empty one. */
  private owesInitial = true;

  constructor(
    readonly typeUrl: string,
    private readonly cache: ResourceCache,
  ) {}

  /** Handles the first request of this type on a stream. */
  start(
    subscribe: readonly string[],
    unsubscribe: readonly string[],
    initial: Record<string, string>,
  ): void {
    const initialVersions = new Map(Object.entries(initial));
    // Legacy wildcard: a first request naming nothing subscribes to everything.
    if (subscribe.length === 0) this.setWildcard(initialVersions);
    else this.sent = initialVersions;
    this.update(subscribe, unsubscribe);
    // Resources the client claims but may no longer get: re-evaluate each.
    for (const name of initialVersions.keys()) {
      if (this.wildcard) {
        if (!this.cache.get(this.typeUrl, name)) this.dirty.add(name);
      } else this.dirty.add(name);
    }
  }

  /**
   * Applies subscribe / unsubscribe lists. `*` in both lists of one message
   * nets to "not wildcard": Istio ztunnel's on-demand opening message.
   */
  update(subscribe: readonly string[], unsubscribe: readonly string[]): void {
    const subStar = subscribe.includes(WILDCARD);
    const unsubStar = unsubscribe.includes(WILDCARD);
    if (unsubStar && this.wildcard) this.clearWildcard();
    else if (subStar && !unsubStar && !this.wildcard) this.setWildcard(this.sent);
    for (const name of subscribe) {
      if (name === WILDCARD || this.names.has(name)) continue;
      this.names.add(name);
      if (this.wildcard) continue;
      const hits = this.resolve(name);
      if (hits.length === 0) this.notFound.add(name);
      for (const h of hits) this.dirty.add(h);
    }
    for (const name of unsubscribe) {
      if (name === WILDCARD || !this.names.delete(name)) continue;
      this.notFound.delete(name);
      // The client drops what it unsubscribed from; forget it without a removal.
      for (const h of [name, ...this.cache.resolveAlias(this.typeUrl, name)]) {
        const r = this.cache.get(this.typeUrl, h);
        if (!r || !this.interested(r)) {
          this.sent.delete(h);
          this.dirty.delete(h);
        }
      }
    }
  }

  private setWildcard(known: Map<string, string>): void {
    this.wildcard = true;
    this.known = known;
    this.cursor = this.cache.values(this.typeUrl);
    this.sent = new Map();
  }

  private clearWildcard(): void {
    this.wildcard = false;
    this.known = undefined;
    this.cursor = undefined;
    this.batches = [];
    this.dirty.clear();
    this.sent = new Map();
  }

  private resolve(name: string): string[] {
    const out = this.cache.get(this.typeUrl, name) ? [name] : [];
    for (const p of this.cache.resolveAlias(this.typeUrl, name)) if (p !== name) out.push(p);
    return out;
  }

  interested(r: CachedResource): boolean {
    if (this.wildcard || this.names.has(r.name)) return true;
    for (const a of r.aliases) if (this.names.has(a)) return true;
    return false;
  }

  /** Queues the names of one debounced cache change. `names` is shared; never mutated. */
  onChange(names: readonly string[], changedSet: () => ReadonlySet<string>, at: number): void {
    const before = this.dirty.size + this.batches.length;
    if (this.wildcard) {
      this.batches.push(names);
      if (this.batches.length > MAX_BATCHES) this.mergeBatches();
    } else if (names.length <= 64) {
      for (const n of names) {
        if (this.sent.has(n) || this.notFound.has(n)) this.dirty.add(n);
        else {
          const r = this.cache.get(this.typeUrl, n);
          if (r && this.interested(r)) this.dirty.add(n);
        }
      }
    } else {
      // Big change, small subscription: walk the subscription instead.
      const changed = changedSet();
      for (const s of this.names)
        for (const h of [s, ...this.cache.resolveAlias(this.typeUrl, s)])
          if (changed.has(h)) this.dirty.add(h);
      for (const n of this.sent.keys()) if (changed.has(n)) this.dirty.add(n);
    }
    if (this.dirty.size + this.batches.length > before) this.changeAt ??= at;
  }

  private mergeBatches(): void {
    for (const b of this.batches) for (const n of b) this.dirty.add(n);
    this.batches = [];
  }

  hasWork(): boolean {
    return (
      this.owesInitial ||
      this.dirty.size > 0 ||
      this.batches.length > 0 ||
      this.notFound.size > 0 ||
      this.cursor !== undefined
    );
  }

  /** Builds the next response content, at most ~maxBytes of resources (at least one). */
  next(maxBytes: number): Chunk | undefined {
    if (!this.hasWork()) return undefined;
    if (this.batches.length > 1) this.mergeBatches();
    const chunk: Chunk = { resources: [], removed: [], changeAt: undefined };
    let size = 0;
    const full = () => size >= maxBytes;
    for (const name of this.notFound) {
      this.notFound.delete(name);
      // Wildcard clients learn of existence from the walk; only on-demand needs the answer.
      if (!this.wildcard && this.resolve(name).length === 0) {
        chunk.removed.push(name);
        size += name.length + 6;
      }
    }
    if (this.dirty.size > 0 || this.batches.length > 0) chunk.changeAt = this.changeAt;
    const take = (name: string) => {
      const r = this.cache.get(this.typeUrl, name);
      if (r && this.interested(r)) {
        if (this.holds(name) === r.version) return;
        chunk.resources.push(r);
        size += r.frame.length;
        this.record(name, r.version);
      } else if (this.wildcard ? r === undefined : this.sent.has(name)) {
        chunk.removed.push(name);
        size += name.length + 6;
        this.forget(name);
      }
    };
    for (const name of this.dirty) {
      if (full()) break;
      this.dirty.delete(name);
      take(name);
    }
    const batch = this.batches[0];
    if (batch && !full()) {
      // A single queued batch is consumed whole (it is shared, so it cannot be trimmed).
      this.batches.shift();
      for (const name of batch) take(name);
    }
    while (this.cursor && !full()) {
      const step = this.cursor.next();
      if (step.done) {
        this.cursor = undefined;
        this.known = undefined;
        break;
      }
      const r = step.value;
      if (this.known?.get(r.name) === r.version) continue;
      chunk.resources.push(r);
      size += r.frame.length;
      this.known?.set(r.name, r.version);
    }
    if (this.dirty.size === 0 && this.batches.length === 0) this.changeAt = undefined;
    const empty = chunk.resources.length === 0 && chunk.removed.length === 0;
    if (empty && !this.owesInitial) return this.hasWork() ? this.next(maxBytes) : undefined;
    this.owesInitial = false;
    return chunk;
  }

  private holds(name: string): string | undefined {
    return this.wildcard ? this.known?.get(name) : this.sent.get(name);
  }

  private record(name: string, version: string): void {
    if (this.wildcard) this.known?.set(name, version);
    else this.sent.set(name, version);
  }

  private forget(name: string): void {
    if (this.wildcard) this.known?.delete(name);
    else this.sent.delete(name);
  }

  /** Resources the client holds (wildcard: the whole type). */
  held(): number {
    return this.wildcard ? this.cache.size(this.typeUrl) : this.sent.size;
  }

  /** Whether the initial walk of a wildcard subscription is still running. */
  get syncing(): boolean {
    return this.cursor !== undefined;
  }
}
