/**
 * ztunnel configuration: Istio ztunnel's environment variable names where the
 * concept exists (so existing DaemonSet manifests keep working), CLI flags on
 * top, validated once and frozen.
 */

import { isIP } from 'node:net';
import { parseDuration } from '../core/duration.js';
import { AmbitError, CoreErrors } from '../core/errors.js';
import { deepFreeze, type Env, envBool, envDuration, envEnum, envInt, envString } from './env.js';

export type ProxyMode = 'shared' | 'dedicated';

export interface ZtunnelConfig {
  /** `shared`: listeners inside each enrolled pod's netns; `dedicated`: one workload, own netns. */
  proxyMode: ProxyMode;
  /** Static config file in ztunnel's local config shape (LOCAL_XDS_PATH). */
  localXdsPath?: string;
  /** Inline static config YAML (LOCAL_XDS). */
  localXds?: string;
  /** Control plane xDS address, e.g. https://127.0.0.1:15012. Empty disables xDS. */
  xdsAddress?: string;
  /** CA address (CA_ADDRESS); defaults to xdsAddress. */
  caAddress?: string;
  /** Mesh root certificate(s) used to verify the control plane (CA_ROOT_CA). */
  caRootPath?: string;
  /** Name to verify on the control plane's certificate (ALT_CA_HOSTNAME). */
  caHostname: string;
  /** Bearer token file for xDS and CA (AUTH_TOKEN). */
  tokenPath?: string;
  /** Local file CA directory (`ambit ca init`) for single-host use and tests. */
  caDir?: string;
  /** Dedicated mode's workload: namespace/pod/serviceAccount (PROXY_WORKLOAD_INFO). */
  proxyWorkloadInfo?: { namespace: string; name: string; serviceAccount: string };
  enableSocks5: boolean;
  poolMaxStreamsPerConnection: number;
  poolUnusedReleaseTimeoutMs: number;
  http2StreamWindowSize: number;
  http2ConnectionWindowSize: number;
  http2FrameSize: number;
  /** Drain deadline on SIGTERM (CONNECTION_TERMINATION_DEADLINE / TERMINATION_GRACE_PERIOD_SECONDS). */
  terminationDeadlineMs: number;
  /** Requested certificate lifetime (SECRET_TTL). */
  secretTtlMs: number;
  /** How long a connection waits for its workload's config or certificate before failing. */
  workloadWaitTimeoutMs: number;
  clusterId: string;
  clusterDomain: string;
  trustDomain: string;
  network: string;
  nodeName: string;
  /** SO_MARK on the proxy's own sockets inside pods (PACKET_MARK), default 1337 = 0x539. */
  packetMark: number;
  rootNamespace: string;
  /** Node agent handoff socket (INPOD_UDS). */
  inpodUds: string;
  /**
   * Data-plane listeners (dedicated mode): the address they bind and their
   * ports. Istio's ports by default; 0 picks a free port (tests). SOCKS5 binds
   * 127.0.0.1 unless a bind address is given.
   */
  listeners: {
    /** AMBIT_BIND_ADDRESS / --bind-address. Default 0.0.0.0. */
    host: string;
    /** HBONE inbound, default 15008 (--hbone-port). Also the port dialled on peers. */
    hbonePort: number;
    /** Outbound capture, default 15001 (--outbound-port). */
    outboundPort: number;
    /** Inbound plaintext capture, default 15006 (--inbound-plaintext-port). */
    inboundPlaintextPort: number;
    /** SOCKS5, default 15080 (--socks5-port); only with enableSocks5. */
    socks5Host: string;
    socks5Port: number;
  };
  /** Connect to local apps from the client's IP (IP_TRANSPARENT; ENABLE_ORIG_SRC). Default false. */
  enableOrigSrc: boolean;
  /** Accept waypoint-fronted ports only from the waypoint (AMBIT_WAYPOINT_BYPASS_PREVENTION). Default true. */
  waypointBypassPrevention: boolean;
  adminAddress: { host: string; port: number };
  metricsAddress: { host: string; port: number };
  readinessAddress: { host: string; port: number };
}

/** Flags from `ambit ztunnel` (all optional; they override env). */
export interface ZtunnelFlags {
  mode?: string;
  localConfig?: string;
  xdsAddress?: string;
  caAddress?: string;
  caRoot?: string;
  tokenFile?: string;
  caDir?: string;
  workload?: string;
  socks5?: boolean;
  nodeName?: string;
  trustDomain?: string;
  adminPort?: string;
  metricsPort?: string;
  readinessPort?: string;
  workloadWaitTimeout?: string;
  bindAddress?: string;
  hbonePort?: string;
  outboundPort?: string;
  inboundPlaintextPort?: string;
  socks5Port?: string;
  inpodSocket?: string;
}

const MiB = 1024 * 1024;

function parseWorkloadInfo(v: string, name: string): ZtunnelConfig['proxyWorkloadInfo'] {
  const parts = v.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `${name}="${v}" is invalid: expected namespace/pod/serviceAccount`,
    );
  }
  const [namespace, podName, serviceAccount] = parts as [string, string, string];
  return { namespace, name: podName, serviceAccount };
}

function port(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `${name}="${v}" is invalid: expected a port 0..65535`,
    );
  }
  return n;
}

export function parseZtunnelConfig(env: Env, flags: ZtunnelFlags = {}): Readonly<ZtunnelConfig> {
  const mode =
    flags.mode ?? envEnum(env, 'PROXY_MODE', ['shared', 'dedicated'] as const) ?? 'shared';
  if (mode !== 'shared' && mode !== 'dedicated') {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `--mode ${mode} is invalid: expected shared or dedicated`,
    );
  }
  const localXdsPath = flags.localConfig ?? envString(env, 'LOCAL_XDS_PATH');
  const localXds = envString(env, 'LOCAL_XDS');
  if (localXdsPath !== undefined && localXds !== undefined) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      'LOCAL_XDS_PATH and LOCAL_XDS are mutually exclusive',
    );
  }
  const xdsAddress = flags.xdsAddress ?? envString(env, 'XDS_ADDRESS');
  const workloadInfo = flags.workload ?? envString(env, 'PROXY_WORKLOAD_INFO');
  const proxyWorkloadInfo =
    workloadInfo === undefined
      ? undefined
      : parseWorkloadInfo(workloadInfo, flags.workload ? '--workload' : 'PROXY_WORKLOAD_INFO');
  if (
    mode === 'dedicated' &&
    proxyWorkloadInfo === undefined &&
    localXdsPath === undefined &&
    localXds === undefined
  ) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      'dedicated mode needs the workload it serves: --workload ns/pod/sa (PROXY_WORKLOAD_INFO)',
    );
  }
  const wait = flags.workloadWaitTimeout
    ? parseDuration(flags.workloadWaitTimeout, '--workload-wait-timeout')
    : envDuration(env, 'AMBIT_WORKLOAD_WAIT_TIMEOUT');
  const bindAddress = flags.bindAddress ?? envString(env, 'AMBIT_BIND_ADDRESS');
  if (bindAddress !== undefined && isIP(bindAddress) === 0) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `--bind-address ${bindAddress} is invalid: expected an IP address`,
    );
  }
  const config: ZtunnelConfig = {
    proxyMode: mode,
    localXdsPath,
    localXds,
    xdsAddress,
    caAddress: flags.caAddress ?? envString(env, 'CA_ADDRESS') ?? xdsAddress,
    caRootPath: flags.caRoot ?? envString(env, 'CA_ROOT_CA'),
    caHostname: envString(env, 'ALT_CA_HOSTNAME') ?? 'istiod.istio-system.svc',
    tokenPath: flags.tokenFile ?? envString(env, 'AUTH_TOKEN'),
    caDir: flags.caDir ?? envString(env, 'AMBIT_CA_DIR'),
    proxyWorkloadInfo,
    enableSocks5: flags.socks5 ?? envBool(env, 'UNSTABLE_ENABLE_SOCKS5') ?? false,
    poolMaxStreamsPerConnection: envInt(env, 'POOL_MAX_STREAMS_PER_CONNECTION', 1, 10_000) ?? 100,
    poolUnusedReleaseTimeoutMs: envDuration(env, 'POOL_UNUSED_RELEASE_TIMEOUT') ?? 5 * 60_000,
    http2StreamWindowSize: envInt(env, 'HTTP2_STREAM_WINDOW_SIZE', 65_535, 2 ** 31 - 1) ?? 4 * MiB,
    http2ConnectionWindowSize:
      envInt(env, 'HTTP2_CONNECTION_WINDOW_SIZE', 65_535, 2 ** 31 - 1) ?? 16 * MiB,
    http2FrameSize: envInt(env, 'HTTP2_FRAME_SIZE', 16_384, 16_777_215) ?? MiB,
    terminationDeadlineMs:
      envDuration(env, 'CONNECTION_TERMINATION_DEADLINE') ??
      envDuration(env, 'TERMINATION_GRACE_PERIOD_SECONDS') ??
      5000,
    secretTtlMs: envDuration(env, 'SECRET_TTL') ?? 24 * 3_600_000,
    workloadWaitTimeoutMs: wait ?? 5000,
    clusterId: envString(env, 'CLUSTER_ID') ?? 'Kubernetes',
    clusterDomain: envString(env, 'CLUSTER_DOMAIN') ?? 'cluster.local',
    trustDomain: flags.trustDomain ?? envString(env, 'TRUST_DOMAIN') ?? 'cluster.local',
    network: envString(env, 'NETWORK') ?? '',
    nodeName: flags.nodeName ?? envString(env, 'NODE_NAME') ?? '',
    packetMark: envInt(env, 'PACKET_MARK', 1, 0xffffffff) ?? 1337,
    rootNamespace: envString(env, 'ROOT_NAMESPACE') ?? 'istio-system',
    inpodUds: flags.inpodSocket ?? envString(env, 'INPOD_UDS') ?? '/var/run/ztunnel/ztunnel.sock',
    listeners: {
      host: bindAddress ?? '0.0.0.0',
      hbonePort: port(flags.hbonePort, '--hbone-port', 15008),
      outboundPort: port(flags.outboundPort, '--outbound-port', 15001),
      inboundPlaintextPort: port(flags.inboundPlaintextPort, '--inbound-plaintext-port', 15006),
      socks5Host: bindAddress ?? '127.0.0.1',
      socks5Port: port(flags.socks5Port, '--socks5-port', 15080),
    },
    enableOrigSrc: envBool(env, 'ENABLE_ORIG_SRC') ?? false,
    waypointBypassPrevention: envBool(env, 'AMBIT_WAYPOINT_BYPASS_PREVENTION') ?? true,
    adminAddress: { host: '127.0.0.1', port: port(flags.adminPort, '--admin-port', 15000) },
    metricsAddress: { host: '0.0.0.0', port: port(flags.metricsPort, '--metrics-port', 15020) },
    readinessAddress: {
      host: '0.0.0.0',
      port: port(flags.readinessPort, '--readiness-port', 15021),
    },
  };
  return deepFreeze(config);
}
