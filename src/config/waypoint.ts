/**
 * `ambit waypoint run` configuration. Names follow the ztunnel's (and Istio's
 * pod env: POD_NAME, POD_NAMESPACE, SERVICE_ACCOUNT, INSTANCE_IP) so a runner
 * can start a waypoint pod the way it starts a ztunnel; flags win over env.
 */
import { isIP } from 'node:net';
import { parseDuration } from '../core/duration.js';
import { AmbitError, CoreErrors } from '../core/errors.js';
import { DEFAULT_DOWNSTREAM_LIMITS, type DownstreamLimits } from '../waypoint/downstream.js';
import { deepFreeze, type Env, envDuration, envInt, envString } from './env.js';

export interface WaypointConfig {
  /** The waypoint Gateway's name (`istio.io/use-waypoint` values name it). */
  name: string;
  namespace: string;
  /** The waypoint's identity is spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>. */
  serviceAccount: string;
  podName: string;
  /** The pod IP, for the xDS node id and the data-plane listener. */
  instanceIp: string;
  trustDomain: string;
  clusterId: string;
  nodeName: string;
  /** Static config file (YAML/JSON, see docs/waypoint.md), re-read on change. */
  localConfigPath?: string;
  xdsAddress?: string;
  caAddress?: string;
  caRootPath?: string;
  /** ALT_CA_HOSTNAME: the name on the control plane's certificate. */
  caHostname: string;
  /** Bearer token file for xDS and CA (a node token or the pod's service-account token). */
  tokenPath?: string;
  /** Local file CA directory (`ambit ca init`), tests and single-host use. */
  caDir?: string;
  secretTtlMs: number;
  terminationDeadlineMs: number;
  poolMaxStreamsPerConnection: number;
  poolUnusedReleaseTimeoutMs: number;
  listeners: { host: string; hbonePort: number };
  /** HBONE port dialled on endpoints (their ztunnel). Default 15008. */
  upstreamHbonePort: number;
  adminAddress: { host: string; port: number };
  metricsAddress: { host: string; port: number };
  readinessAddress: { host: string; port: number };
  /** Downstream HTTP limits (docs/waypoint.md, "Limits and protections"). */
  http: DownstreamLimits;
}

export interface WaypointFlags {
  name?: string;
  namespace?: string;
  serviceAccount?: string;
  podName?: string;
  instanceIp?: string;
  trustDomain?: string;
  nodeName?: string;
  localConfig?: string;
  xdsAddress?: string;
  caAddress?: string;
  caRoot?: string;
  tokenFile?: string;
  caDir?: string;
  bindAddress?: string;
  hbonePort?: string;
  upstreamHbonePort?: string;
  adminPort?: string;
  metricsPort?: string;
  readinessPort?: string;
  headersTimeout?: string;
  idleTimeout?: string;
  maxHeaderBytes?: string;
  maxHeaders?: string;
  maxBufferedBody?: string;
}

function port(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new AmbitError(CoreErrors.CONFIG_INVALID, `${name}="${v}" is invalid: expected a port`);
  return n;
}

/** A duration from a flag (wins) or an env var; undefined when neither is set. */
function duration(flag: string | undefined, flagName: string, env: Env, envName: string) {
  if (flag === undefined) return envDuration(env, envName);
  try {
    return parseDuration(flag, flagName);
  } catch {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `${flagName}="${flag}" is invalid: expected a duration such as 500ms, 30s, 5m`,
    );
  }
}

/** An integer in min..max from a flag (wins) or an env var. */
function count(
  flag: string | undefined,
  flagName: string,
  env: Env,
  envName: string,
  [min, max]: readonly [number, number],
): number | undefined {
  if (flag === undefined) return envInt(env, envName, min, max);
  const n = Number(flag);
  if (!/^\d+$/.test(flag) || n < min || n > max)
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `${flagName}="${flag}" is invalid: expected an integer ${min}..${max}`,
    );
  return n;
}

function positive(ms: number | undefined, what: string): number | undefined {
  if (ms !== undefined && ms <= 0)
    throw new AmbitError(CoreErrors.CONFIG_INVALID, `${what} must be greater than 0`);
  return ms;
}

function httpLimits(env: Env, flags: WaypointFlags): DownstreamLimits {
  const d = DEFAULT_DOWNSTREAM_LIMITS;
  return {
    maxHeaderBytes:
      count(flags.maxHeaderBytes, '--max-header-bytes', env, 'AMBIT_WAYPOINT_MAX_HEADER_BYTES', [
        1024,
        1 << 20,
      ]) ?? d.maxHeaderBytes,
    maxHeaderFields:
      count(flags.maxHeaders, '--max-headers', env, 'AMBIT_WAYPOINT_MAX_HEADERS', [1, 10_000]) ??
      d.maxHeaderFields,
    headersTimeoutMs:
      positive(
        duration(flags.headersTimeout, '--headers-timeout', env, 'AMBIT_WAYPOINT_HEADERS_TIMEOUT'),
        'the headers timeout',
      ) ?? d.headersTimeoutMs,
    idleTimeoutMs:
      positive(
        duration(flags.idleTimeout, '--idle-timeout', env, 'AMBIT_WAYPOINT_IDLE_TIMEOUT'),
        'the idle timeout',
      ) ?? d.idleTimeoutMs,
    maxBufferedBodyBytes:
      count(flags.maxBufferedBody, '--max-buffered-body', env, 'AMBIT_WAYPOINT_MAX_BUFFERED_BODY', [
        0,
        64 << 20,
      ]) ?? d.maxBufferedBodyBytes,
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parseWaypointConfig(env: Env, flags: WaypointFlags = {}): Readonly<WaypointConfig> {
  const name = flags.name ?? envString(env, 'WAYPOINT_NAME') ?? 'waypoint';
  const namespace = flags.namespace ?? envString(env, 'POD_NAMESPACE');
  if (namespace === undefined)
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      'the waypoint needs its namespace: --namespace (POD_NAMESPACE)',
    );
  const serviceAccount = flags.serviceAccount ?? envString(env, 'SERVICE_ACCOUNT') ?? name;
  for (const [what, v] of [
    ['--name', name],
    ['--namespace', namespace],
    ['--service-account', serviceAccount],
  ] as const) {
    if (!DNS_LABEL.test(v))
      throw new AmbitError(CoreErrors.CONFIG_INVALID, `${what} "${v}" is not a DNS label`);
  }
  const bind = flags.bindAddress ?? envString(env, 'AMBIT_BIND_ADDRESS');
  const instanceIp = flags.instanceIp ?? envString(env, 'INSTANCE_IP') ?? bind ?? '127.0.0.1';
  for (const [what, v] of [
    ['--bind-address', bind],
    ['--instance-ip', instanceIp],
  ] as const) {
    if (v !== undefined && isIP(v) === 0)
      throw new AmbitError(CoreErrors.CONFIG_INVALID, `${what} ${v} is not an IP address`);
  }
  const localConfigPath = flags.localConfig ?? envString(env, 'LOCAL_XDS_PATH');
  const xdsAddress = flags.xdsAddress ?? envString(env, 'XDS_ADDRESS');
  if (localConfigPath === undefined && xdsAddress === undefined)
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      'the waypoint needs config: --xds-address (XDS_ADDRESS) or --local-config (LOCAL_XDS_PATH)',
    );
  const config: WaypointConfig = {
    name,
    namespace,
    serviceAccount,
    podName: flags.podName ?? envString(env, 'POD_NAME') ?? name,
    instanceIp,
    trustDomain: flags.trustDomain ?? envString(env, 'TRUST_DOMAIN') ?? 'cluster.local',
    clusterId: envString(env, 'CLUSTER_ID') ?? 'Kubernetes',
    nodeName: flags.nodeName ?? envString(env, 'NODE_NAME') ?? '',
    localConfigPath,
    xdsAddress,
    caAddress: flags.caAddress ?? envString(env, 'CA_ADDRESS') ?? xdsAddress,
    caRootPath: flags.caRoot ?? envString(env, 'CA_ROOT_CA'),
    caHostname: envString(env, 'ALT_CA_HOSTNAME') ?? 'istiod.istio-system.svc',
    tokenPath: flags.tokenFile ?? envString(env, 'AUTH_TOKEN'),
    caDir: flags.caDir ?? envString(env, 'AMBIT_CA_DIR'),
    secretTtlMs: envDuration(env, 'SECRET_TTL') ?? 24 * 3_600_000,
    terminationDeadlineMs:
      envDuration(env, 'CONNECTION_TERMINATION_DEADLINE') ??
      envDuration(env, 'TERMINATION_GRACE_PERIOD_SECONDS') ??
      5000,
    poolMaxStreamsPerConnection: envInt(env, 'POOL_MAX_STREAMS_PER_CONNECTION', 1, 10_000) ?? 100,
    poolUnusedReleaseTimeoutMs: envDuration(env, 'POOL_UNUSED_RELEASE_TIMEOUT') ?? 5 * 60_000,
    listeners: {
      host: bind ?? '0.0.0.0',
      hbonePort: port(flags.hbonePort, '--hbone-port', 15008),
    },
    upstreamHbonePort: port(flags.upstreamHbonePort, '--upstream-hbone-port', 15008),
    adminAddress: { host: '127.0.0.1', port: port(flags.adminPort, '--admin-port', 15000) },
    metricsAddress: { host: '0.0.0.0', port: port(flags.metricsPort, '--metrics-port', 15020) },
    readinessAddress: {
      host: '0.0.0.0',
      port: port(flags.readinessPort, '--readiness-port', 15021),
    },
    http: httpLimits(env, flags),
  };
  return deepFreeze(config);
}
