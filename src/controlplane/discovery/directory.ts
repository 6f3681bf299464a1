/**
 * Watches a directory of manifests and keeps a ConfigStore in step with it:
 * each file is one origin; a changed file replaces what it defined, a deleted
 * file removes it. fs.watch events are debounced and followed by a full
 * rescan, because watch events are hints (coalesced, renamed, missing on some
 * editors' save-by-rename), not a reliable change log.
 *
 * One non-recursive watcher per directory, not `{recursive: true}`: Node 20's
 * recursive watch on Linux watches each file's inode, so after a file is
 * replaced by rename (every atomic writer: editors, the local runner) it
 * reports that file's first replacement and none after.
 */
import { type Dirent, type FSWatcher, readdirSync, readFileSync, watch } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Drain } from '../../core/index.js';
import { errorMessage } from '../../core/index.js';
import { manifestFiles, parseManifestText } from '../../kube/index.js';
import { logger } from '../../telemetry/index.js';
import type { ConfigStore } from './store.js';

const log = logger('controlplane.discovery');

export interface ManifestDirectoryOptions {
  /** Quiet time after the last change before rescanning, in ms. Default 100. */
  debounceMs?: number;
  /** Registers with this drain so shutdown closes the watcher. */
  drain?: Drain;
}

export class ManifestDirectorySource {
  readonly dir: string;
  private readonly debounceMs: number;
  /** Directory → its watcher; kept in step with the tree on every rescan. */
  private readonly watchers = new Map<string, FSWatcher>();
  private watching = false;
  private timer: NodeJS.Timeout | undefined;
  /** file → last text read, to skip files that did not change. */
  private readonly texts = new Map<string, string>();
  private unregister: (() => void) | undefined;
  private scans = 0;

  constructor(
    private readonly store: ConfigStore,
    dir: string,
    options: ManifestDirectoryOptions = {},
  ) {
    this.dir = resolve(dir);
    this.debounceMs = options.debounceMs ?? 100;
    this.unregister = options.drain?.register({
      name: `manifests ${this.dir}`,
      graceful: async () => this.close(),
      force: () => this.close(),
    });
  }

  /** Number of rescans done so far (for diagnostics and tests). */
  get scanCount(): number {
    return this.scans;
  }

  /** Reads the directory once and starts watching it. */
  start(): void {
    this.watching = true;
    this.rescan();
  }

  /** Watches every directory of the tree (new ones appear as an event on their parent). */
  private syncWatchers(): void {
    if (!this.watching) return;
    const dirs = new Set<string>();
    const walk = (d: string): void => {
      dirs.add(d);
      let entries: Dirent[];
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
    };
    walk(this.dir);
    for (const [d, w] of this.watchers) {
      if (dirs.has(d)) continue;
      w.close();
      this.watchers.delete(d);
    }
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, () => this.schedule());
        w.on('error', (err) => {
          log.warn({ err, dir: d }, 'manifest watch failed; rescanning');
          w.close();
          this.watchers.delete(d);
          this.schedule();
        });
        this.watchers.set(d, w);
      } catch (err) {
        log.warn({ dir: d, err: errorMessage(err) }, 'cannot watch manifest directory');
      }
    }
  }

  /** Re-reads every manifest file now. */
  rescan(): void {
    this.scans++;
    this.syncWatchers();
    let files: string[];
    try {
      files = manifestFiles([this.dir]);
    } catch (err) {
      log.warn({ dir: this.dir, err: errorMessage(err) }, 'cannot list manifest directory');
      files = [];
    }
    const seen = new Set(files);
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // Vanished between listing and reading: the next event rescans.
        seen.delete(file);
        continue;
      }
      if (this.texts.get(file) === text) continue;
      this.texts.set(file, text);
      this.store.replaceOrigin(file, parseManifestText(text, file));
    }
    for (const file of [...this.texts.keys()]) {
      if (seen.has(file)) continue;
      this.texts.delete(file);
      this.store.removeOrigin(file);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.watching = false;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.unregister?.();
    this.unregister = undefined;
  }

  private schedule(): void {
    if (!this.watching) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.rescan();
    }, this.debounceMs);
  }
}
