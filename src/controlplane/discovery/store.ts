/**
 * The desired state of the mesh, fed by sources (manifest files, the
 * Kubernetes API, the local runner's pods) and read as snapshots by the
 * translator.
 *
 * Invariant: the store only ever holds valid resources. An invalid new
 * version of a resource is rejected (and listed by `status()`), and the last
 * good version from the same origin stays in force. Removing an origin (a
 * deleted file) removes what it defined. When two origins define the same
 * kind/namespace/name, the first origin in sorted order wins and the other
 * is rejected as a duplicate, naming both.
 */
import {
  duplicateError,
  formatSource,
  KubeErrors,
  type ManifestSet,
  type ManifestSourceRef,
  parseResource,
  type Rejection,
  type Resource,
  resourceKey,
} from '../../kube/index.js';
import { logger } from '../../telemetry/index.js';
import { RUNTIME_ORIGIN, type RuntimePod, runtimePodObject } from './runtime.js';

const log = logger('controlplane.discovery');

interface Held {
  resource: Resource;
  source: ManifestSourceRef;
  /** JSON of the resource, to tell real changes from re-reads. */
  json: string;
}

interface Origin {
  good: Map<string, Held>;
  /** Rejections keyed by resource key (or a per-document key when unnamed). */
  rejected: Map<string, Rejection>;
}

/** A rejected resource as shown by `ambit get` / the status endpoint. */
export interface RejectedResource extends Rejection {
  /** `file (document n)` or `kubernetes` / `runtime`. */
  where: string;
  /** True when an older good version of the resource is still in force. */
  retained: boolean;
}

export interface Snapshot {
  /** Increases by one on every change; starts at 0 (empty). */
  readonly version: number;
  /** Every resource in force, sorted by `Kind/namespace/name`. */
  readonly resources: readonly Resource[];
}

export type SnapshotListener = (snapshot: Snapshot) => void;

const keyOfRef = (r: { kind: string; namespace: string; name: string }) =>
  `${r.kind}/${r.namespace}/${r.name}`;

export class ConfigStore {
  private readonly origins = new Map<string, Origin>();
  private merged = new Map<string, Held>();
  private duplicates: RejectedResource[] = [];
  private current: Snapshot = { version: 0, resources: [] };
  private readonly listeners = new Set<SnapshotListener>();
  private notifyQueued = false;

  /** The state in force now. */
  snapshot(): Snapshot {
    return this.current;
  }

  /** Called (once per burst of changes, on a microtask) with each new snapshot. Returns an unsubscribe. */
  onChange(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Replaces everything `origin` (a file) defined with the content of `set`.
   * Invalid objects are rejected and their last good version from this origin
   * is kept. If some documents could not be parsed at all, resources the
   * origin defined before are kept too (they may live in the broken part).
   */
  replaceOrigin(origin: string, set: ManifestSet): void {
    const prev = this.origins.get(origin);
    const next: Origin = { good: new Map(), rejected: new Map() };
    for (const raw of set.objects) this.ingest(next, prev, raw.object, raw.source);
    for (const p of set.problems) {
      next.rejected.set(`#${p.source.document}`, {
        ref: { kind: '', namespace: '', name: '' },
        code: KubeErrors.MANIFEST_PARSE,
        reason: `${formatSource(p.source)}: ${p.message}`,
        source: p.source,
      });
    }
    if (set.problems.length > 0 && prev) {
      for (const [k, held] of prev.good) if (!next.good.has(k)) next.good.set(k, held);
    }
    this.origins.set(origin, next);
    this.rebuild();
  }

  /** Forgets everything `origin` defined (a deleted file, a stopped source). */
  removeOrigin(origin: string): void {
    if (this.origins.delete(origin)) this.rebuild();
  }

  /** Adds or updates one object from `origin` (API-server events, runtime objects). */
  putObject(
    origin: string,
    raw: unknown,
    source: ManifestSourceRef = { file: origin, document: 0 },
  ): void {
    const o = this.origin(origin);
    this.ingest(o, o, raw, source);
    this.rebuild();
  }

  /** Removes one object of `origin`; also clears its rejection. */
  removeObject(origin: string, kind: string, namespace: string, name: string): void {
    const o = this.origins.get(origin);
    if (!o) return;
    const key = keyOfRef({ kind, namespace, name });
    const had = o.good.delete(key);
    const hadRej = o.rejected.delete(key);
    if (had || hadRej) this.rebuild();
  }

  /**
   * A pod the local runner started (or updated). An invalid pod is rejected
   * like any other resource and shows in `status()`.
   */
  upsertPod(pod: RuntimePod): void {
    this.putObject(RUNTIME_ORIGIN, runtimePodObject(pod), { file: RUNTIME_ORIGIN, document: 0 });
  }

  deletePod(namespace: string, name: string): void {
    this.removeObject(RUNTIME_ORIGIN, 'Pod', namespace, name);
  }

  /** Any other object the runner creates (a waypoint's Service). */
  upsertRuntimeObject(raw: Record<string, unknown>): void {
    this.putObject(RUNTIME_ORIGIN, raw, { file: RUNTIME_ORIGIN, document: 0 });
  }

  deleteRuntimeObject(kind: string, namespace: string, name: string): void {
    this.removeObject(RUNTIME_ORIGIN, kind, namespace, name);
  }

  /** Rejected resources, sorted by `Kind/namespace/name`. */
  status(): RejectedResource[] {
    const out: RejectedResource[] = [...this.duplicates];
    for (const o of this.origins.values()) {
      for (const [k, r] of o.rejected) {
        out.push({ ...r, where: formatSource(r.source), retained: o.good.has(k) });
      }
    }
    return out.sort((a, b) =>
      keyOfRef(a.ref) < keyOfRef(b.ref) ? -1 : keyOfRef(a.ref) > keyOfRef(b.ref) ? 1 : 0,
    );
  }

  private origin(name: string): Origin {
    let o = this.origins.get(name);
    if (!o) {
      o = { good: new Map(), rejected: new Map() };
      this.origins.set(name, o);
    }
    return o;
  }

  private ingest(
    into: Origin,
    prev: Origin | undefined,
    raw: unknown,
    source: ManifestSourceRef,
  ): void {
    const r = parseResource(raw);
    if ('ignored' in r) return;
    if ('error' in r) {
      const ref = (r.error.details.ref as Rejection['ref'] | undefined) ?? {
        kind: '',
        namespace: '',
        name: '',
      };
      const key =
        ref.name === '<unnamed>' || ref.name === ''
          ? `#${source.document}:${ref.kind}`
          : keyOfRef(ref);
      into.rejected.set(key, { ref, code: r.error.code, reason: r.error.message, source });
      const last = prev?.good.get(key);
      if (last) into.good.set(key, last);
      return;
    }
    const key = resourceKey(r.ok);
    if (into !== prev && into.good.has(key)) {
      const first = into.good.get(key)?.source ?? source;
      const err = duplicateError(
        r.ok.kind,
        r.ok.metadata.namespace,
        r.ok.metadata.name,
        first,
        source,
      );
      into.rejected.set(`${key}@${source.document}`, {
        ref: { kind: r.ok.kind, namespace: r.ok.metadata.namespace, name: r.ok.metadata.name },
        code: err.code,
        reason: err.message,
        source,
      });
      return;
    }
    into.rejected.delete(key);
    into.good.set(key, { resource: r.ok, source, json: JSON.stringify(r.ok) });
  }

  private rebuild(): void {
    const merged = new Map<string, Held>();
    const duplicates: RejectedResource[] = [];
    for (const name of [...this.origins.keys()].sort()) {
      for (const [key, held] of this.origins.get(name)?.good ?? []) {
        const first = merged.get(key);
        if (!first) {
          merged.set(key, held);
          continue;
        }
        const { kind, metadata } = held.resource;
        const err = duplicateError(
          kind,
          metadata.namespace,
          metadata.name,
          first.source,
          held.source,
        );
        duplicates.push({
          ref: { kind, namespace: metadata.namespace, name: metadata.name },
          code: err.code,
          reason: err.message,
          source: held.source,
          where: formatSource(held.source),
          retained: false,
        });
      }
    }
    this.duplicates = duplicates;
    let changed = merged.size !== this.merged.size;
    if (!changed) {
      for (const [k, h] of merged) {
        if (this.merged.get(k)?.json !== h.json) {
          changed = true;
          break;
        }
      }
    }
    this.merged = merged;
    if (!changed) return;
    const keys = [...merged.keys()].sort();
    this.current = {
      version: this.current.version + 1,
      resources: keys.map((k) => (merged.get(k) as Held).resource),
    };
    this.queueNotify();
  }

  private queueNotify(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const l of this.listeners) {
        try {
          l(this.current);
        } catch (err) {
          // One bad listener must not starve the others (or crash the process).
          log.error({ err }, 'snapshot listener failed');
        }
      }
    });
  }
}
