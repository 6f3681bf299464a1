/**
 * Where ztunnel's mesh config comes from: the local YAML (LOCAL_XDS_PATH,
 * re-read when the file changes; or LOCAL_XDS inline), here, or the control
 * plane over delta xDS (XDS_ADDRESS, ztunnel-xds-source.ts). Both end in the
 * StateUpdater; a bad file or resource keeps the previous version in force.
 * The composition root imports only the one in use: the YAML parser and zod
 * here, gRPC and the protobuf runtime there, each cost several MB of RSS.
 */
import { type FSWatcher, watch as fsWatch, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { StateUpdater } from '../state/index.js';
import { parseLocalConfig } from '../state/local-config.js';
import { logger } from '../telemetry/index.js';

const log = logger('config');

export interface ConfigSource {
  /** Loads the first config; resolves when the state is synced. */
  start(): Promise<void>;
  dump(): unknown;
  close(): void;
}

/** LOCAL_XDS_PATH / LOCAL_XDS. The file is watched and re-applied on change. */
export class LocalConfigSource implements ConfigSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loadedAt: Date | undefined;
  private lastError: string | undefined;
  private reloads = 0;

  constructor(
    private readonly updater: StateUpdater,
    private readonly source: { path: string } | { inline: string },
  ) {}

  async start(): Promise<void> {
    if ('inline' in this.source) {
      this.apply(this.source.inline, 'LOCAL_XDS');
      return;
    }
    const { path } = this.source;
    this.apply(readFileSync(path, 'utf8'), path);
    // Watch the directory: editors and `kubectl cp` replace the file by rename.
    this.watcher = fsWatch(dirname(path), (_event, name) => {
      if (name !== null && name !== basename(path)) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), 50);
      this.timer.unref();
    });
    this.watcher.unref();
  }

  /** Re-reads the file now. A parse error is logged and the previous config stays. */
  async reload(): Promise<void> {
    if ('inline' in this.source) return;
    const { path } = this.source;
    try {
      this.apply(await readFile(path, 'utf8'), path);
      this.reloads += 1;
    } catch (err) {
      this.lastError = errorMessage(err);
      log.error(
        { path, err: this.lastError },
        'local config not applied; keeping the previous one',
      );
    }
  }

  private apply(text: string, from: string): void {
    const snapshot = parseLocalConfig(text);
    this.updater.replaceAll(snapshot);
    this.loadedAt = new Date();
    this.lastError = undefined;
    log.info(
      {
        from,
        workloads: snapshot.workloads.length,
        services: snapshot.services.length,
        policies: snapshot.policies.length,
      },
      'local config applied',
    );
  }

  dump(): unknown {
    return {
      kind: 'local',
      path: 'path' in this.source ? this.source.path : undefined,
      loadedAt: this.loadedAt?.toISOString(),
      reloads: this.reloads,
      lastError: this.lastError,
    };
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
