/**
 * `ambit controlplane` configuration: flags over environment (istiod's names
 * where the concept exists: TRUST_DOMAIN, ROOT_NAMESPACE, PILOT_DEBOUNCE_AFTER,
 * PILOT_DEBOUNCE_MAX), validated once and frozen.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseDuration } from '../core/duration.js';
import { AmbitError, CoreErrors } from '../core/errors.js';
import { deepFreeze, type Env, envBool, envDuration, envString } from './env.js';

/** Default state directory (CA, node tokens); `$AMBIT_STATE_DIR` overrides it. */
export const DEFAULT_CONTROLPLANE_STATE_DIR = '/var/lib/ambit/controlplane';

/** The state dir from a flag, else `$AMBIT_STATE_DIR`, else the default. */
export function controlPlaneStateDir(env: Env, flag?: string): string {
  return flag ?? envString(env, 'AMBIT_STATE_DIR') ?? DEFAULT_CONTROLPLANE_STATE_DIR;
}

export interface ControlPlaneConfig {
  /** Directory of manifests to watch (`--manifests`); exclusive with `kubernetes`. */
  manifestsDir?: string;
  /** Watch the Kubernetes API (kubeconfig or in-cluster) instead of a directory. */
  kubernetes: boolean;
  /** State directory: node token hashes and, by default, the CA. */
  stateDir: string;
  /** CA directory in Istio's cacerts layout. Default `<stateDir>/ca`; created if empty. */
  caDir: string;
  /** gRPC (CA + delta ADS, TLS) listen address. Default 0.0.0.0. */
  listen: string;
  /** gRPC port. Default 15012; 0 picks a free one. */
  port: number;
  /** Monitoring (/metrics, /ready, /debug/*) listen address. Default 127.0.0.1. */
  monitoringListen: string;
  /** Monitoring port. Default 15014; 0 picks a free one. */
  monitoringPort: number;
  /** SPIFFE trust domain for a new CA and for translation. Default cluster.local. */
  trustDomain: string;
  /** Istio root namespace (mesh-wide policies). Default istio-system. */
  rootNamespace: string;
  /** Service DNS suffix. Default cluster.local. */
  domainSuffix: string;
  /** Cluster ID in workload UIDs. Default Kubernetes. */
  clusterId: string;
  /** Network ID. Default '' (the default network). */
  network: string;
  /** xDS push debounce quiet period, ms. Default 100. */
  debounceMs: number;
  /** Longest a push waits while changes keep coming, ms. Default 10 s. */
  debounceMaxMs: number;
  /** Drain deadline on SIGTERM, ms. Default 10 s. */
  drainMs: number;
  /** Extra DNS names for the serving certificate (besides istiod.istio-system.svc, localhost). */
  extraDnsNames: readonly string[];
}

/** Flags of `ambit controlplane` (all optional; they override env). */
export interface ControlPlaneFlags {
  manifests?: string;
  kubernetes?: boolean;
  stateDir?: string;
  caDir?: string;
  port?: string;
  listen?: string;
  monitoringPort?: string;
  monitoringListen?: string;
  trustDomain?: string;
  rootNamespace?: string;
  debounce?: string;
  drainTimeout?: string;
  dnsName?: string[];
}

function port(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new AmbitError(CoreErrors.CONFIG_INVALID, `${name}="${v}" is invalid: expected 0..65535`);
  }
  return n;
}

function duration(v: string, name: string): number {
  try {
    return parseDuration(v, name);
  } catch (err) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `${name}="${v}" is invalid: expected a duration such as 50ms, 1s`,
      { cause: err },
    );
  }
}

function address(v: string, name: string): string {
  if (isIP(v) === 0) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `${name}="${v}" is invalid: expected an IP address (0.0.0.0, 127.0.0.1, ::)`,
    );
  }
  return v;
}

export function parseControlPlaneConfig(
  env: Env,
  flags: ControlPlaneFlags = {},
): Readonly<ControlPlaneConfig> {
  const manifestsDir = flags.manifests ?? envString(env, 'AMBIT_MANIFESTS');
  const kubernetes = flags.kubernetes ?? envBool(env, 'AMBIT_KUBERNETES') ?? false;
  if (manifestsDir !== undefined && kubernetes) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      '--manifests and --kubernetes are mutually exclusive: pick one config source',
    );
  }
  if (manifestsDir === undefined && !kubernetes) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      'no config source: pass --manifests DIR or --kubernetes',
    );
  }
  const stateDir = controlPlaneStateDir(env, flags.stateDir);
  const debounceMs = flags.debounce
    ? duration(flags.debounce, '--debounce')
    : (envDuration(env, 'PILOT_DEBOUNCE_AFTER') ?? 100);
  const drainMs = flags.drainTimeout
    ? duration(flags.drainTimeout, '--drain-timeout')
    : (envDuration(env, 'TERMINATION_DRAIN_DURATION') ?? 10_000);
  const config: ControlPlaneConfig = {
    ...(manifestsDir !== undefined ? { manifestsDir } : {}),
    kubernetes,
    stateDir,
    caDir: flags.caDir ?? envString(env, 'AMBIT_CA_DIR') ?? join(stateDir, 'ca'),
    listen: address(flags.listen ?? envString(env, 'AMBIT_LISTEN') ?? '0.0.0.0', '--listen'),
    port: port(flags.port, '--port', 15012),
    monitoringListen: address(flags.monitoringListen ?? '127.0.0.1', '--monitoring-listen'),
    monitoringPort: port(flags.monitoringPort, '--monitoring-port', 15014),
    trustDomain: flags.trustDomain ?? envString(env, 'TRUST_DOMAIN') ?? 'cluster.local',
    rootNamespace: flags.rootNamespace ?? envString(env, 'ROOT_NAMESPACE') ?? 'istio-system',
    domainSuffix: envString(env, 'CLUSTER_DOMAIN') ?? 'cluster.local',
    clusterId: envString(env, 'CLUSTER_ID') ?? 'Kubernetes',
    network: envString(env, 'NETWORK') ?? '',
    debounceMs,
    debounceMaxMs: envDuration(env, 'PILOT_DEBOUNCE_MAX') ?? 10_000,
    drainMs,
    extraDnsNames: flags.dnsName ?? [],
  };
  return deepFreeze(config);
}
