/**
 * xDS node identity as Istio proxies send it: the node id
 * `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>` and a metadata
 * Struct (NAME, NAMESPACE, NODE_NAME, INSTANCE_IPS, ISTIO_META_*). The shape
 * comes from istio/ztunnel:src/xds/client.rs and istio/istio:pkg/model/proxy.
 */
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { AmbitError } from '../core/errors.js';
import { XdsErrors } from './errors.js';

/** The proxy kinds Istio encodes as the first node-id field. */
export type ProxyType = 'ztunnel' | 'sidecar' | 'router' | 'waypoint';
const PROXY_TYPES: readonly string[] = ['ztunnel', 'sidecar', 'router', 'waypoint'];

export interface NodeId {
  type: ProxyType;
  /** First instance IP. */
  ip: string;
  /** Pod name. */
  podName: string;
  namespace: string;
  /** Usually `<namespace>.svc.cluster.local`. */
  domain: string;
}

/** Parses an Istio node id; throws `AMBIT_XDS_NODE_ID_INVALID`. */
export function parseNodeId(id: string): NodeId {
  const parts = id.split('~');
  const bad = (why: string) =>
    new AmbitError(XdsErrors.NODE_ID_INVALID, `node id "${id}" is invalid: ${why}`);
  if (parts.length !== 4) throw bad('expected 4 fields separated by "~"');
  const [type, ip, podDotNs, domain] = parts as [string, string, string, string];
  if (!PROXY_TYPES.includes(type)) throw bad(`unknown proxy type "${type}"`);
  if (ip === '') throw bad('empty IP');
  const dot = podDotNs.lastIndexOf('.');
  if (dot <= 0 || dot === podDotNs.length - 1) throw bad('expected <pod>.<namespace>');
  return {
    type: type as ProxyType,
    ip,
    podName: podDotNs.slice(0, dot),
    namespace: podDotNs.slice(dot + 1),
    domain,
  };
}

/** Formats a node id; `domain` defaults to `<namespace>.svc.cluster.local`. */
export function formatNodeId(n: Omit<NodeId, 'domain'> & { domain?: string }): string {
  const domain = n.domain ?? `${n.namespace}.svc.cluster.local`;
  return `${n.type}~${n.ip}~${n.podName}.${n.namespace}~${domain}`;
}

/** The node metadata keys the control plane reads (Istio's names). */
export interface NodeMetadata {
  NAME?: string;
  NAMESPACE?: string;
  NODE_NAME?: string;
  CLUSTER_ID?: string;
  SERVICE_ACCOUNT?: string;
  INSTANCE_IPS?: string;
  /** Every other key, unparsed. */
  [key: string]: JsonValue | undefined;
}

/** Reads node metadata from the Node.metadata Struct (absent → empty). */
export function nodeMetadata(meta: JsonObject | undefined): NodeMetadata {
  const out: NodeMetadata = {};
  if (!meta) return out;
  for (const [k, v] of Object.entries(meta)) out[k] = v;
  return out;
}
