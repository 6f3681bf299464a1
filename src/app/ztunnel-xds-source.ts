/**
 * ztunnel's config from the control plane over delta xDS (XDS_ADDRESS):
 * Address and Authorization resources applied through the StateUpdater; an
 * invalid resource is NACKed and the previous version stays. Imported by the
 * composition root only when XDS_ADDRESS is set (see ztunnel-config-source.ts).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import type { ZtunnelConfig } from '../config/ztunnel.js';
import { type Authorization, AuthorizationSchema } from '../gen/istio/security/authorization_pb.js';
import { type Address, AddressSchema } from '../gen/istio/workload/workload_pb.js';
import type { ResourceError, StateUpdater } from '../state/index.js';
import {
  ADDRESS_TYPE_URL,
  type ApplyResult,
  AUTHORIZATION_TYPE_URL,
  DeltaXdsClient,
  formatNodeId,
  type XdsUpdate,
} from '../xds/index.js';
import type { ConfigSource } from './ztunnel-config-source.js';

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
