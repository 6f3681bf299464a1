/**
 * Where ztunnel's mesh config comes from: the local YAML (LOCAL_XDS_PATH,
 * re-read when the file changes; or LOCAL_XDS inline) or the control plane
 * over delta xDS (XDS_ADDRESS). Both end in the StateUpdater; a bad file or
 * resource keeps the previous version in force.
 */
import { type FSWatcher, watch as fsWatch, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import type { ZtunnelConfig } from '../config/ztunnel.js';
import { errorMessage } from '../core/errors.js';
import { type Authorization, AuthorizationSchema } from '../gen/istio/security/authorization_pb.js';
import { type Address, AddressSchema } from '../gen/istio/workload/workload_pb.js';
import { parseLocalConfig, type ResourceError, type StateUpdater } from '../state/index.js';
import { logger } from '../telemetry/index.js';
import {
  ADDRESS_TYPE_URL,
  type ApplyResult,
  AUTHORIZATION_TYPE_URL,
  DeltaXdsClient,
  formatNodeId,
  type XdsUpdate,
} from '../xds/index.js';

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

/** Delta xDS from the control plane (Address + Authorization). */
export class XdsConfigSource implements ConfigSource {
  readonly client: DeltaXdsClient;

  constructor(updater: StateUpdater, config: Readonly<ZtunnelConfig>, instanceIp: string) {
    const podName = config.proxyWorkloadInfo?.name ?? `ztunnel-${config.nodeName || 'local'}`;
    const namespace = config.proxyWorkloadInfo?.namespace ?? config.rootNamespace;
    const rootCerts = config.caRootPath === undefined ? undefined : readFileSync(config.caRootPath);
    const tokenPath = config.tokenPath;
    const toErrors = (errs: ResourceError[]): ApplyResult => ({
      errors: errs.map((e) => ({ name: e.name, message: e.error.message })),
    });
    this.client = new DeltaXdsClient({
      address: (config.xdsAddress ?? '').replace(/^https?:\/\//, ''),
      node: {
        id: formatNodeId({ type: 'ztunnel', ip: instanceIp, podName, namespace }),
        metadata: {
          NAME: podName,
          NAMESPACE: namespace,
          NODE_NAME: config.nodeName,
          CLUSTER_ID: config.clusterId,
          INSTANCE_IPS: instanceIp,
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
          typeUrl: ADDRESS_TYPE_URL,
          apply: (u: XdsUpdate) =>
            toErrors(updater.applyAddressDelta(unpackAddresses(u), u.removals)),
        },
        {
          typeUrl: AUTHORIZATION_TYPE_URL,
          apply: (u: XdsUpdate) =>
            toErrors(updater.applyAuthorizationDelta(unpackAuthorizations(u), u.removals)),
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

function unpackAddresses(u: XdsUpdate): { name: string; resource: Address }[] {
  return u.upserts.flatMap((r) => {
    const resource = anyUnpack(r.resource, AddressSchema);
    return resource === undefined ? [] : [{ name: r.name, resource }];
  });
}

function unpackAuthorizations(u: XdsUpdate): { name: string; resource: Authorization }[] {
  return u.upserts.flatMap((r) => {
    const resource = anyUnpack(r.resource, AuthorizationSchema);
    return resource === undefined ? [] : [{ name: r.name, resource }];
  });
}
