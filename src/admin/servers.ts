/**
 * The three operational servers every ambit proxy runs, with Istio's ports:
 * admin on 127.0.0.1:15000 (config dump, log levels, quit), Prometheus metrics
 * on 15020 (`/metrics` and `/stats/prometheus`), readiness on 15021
 * (`/healthz/ready`). Admin is localhost-only by construction: the bind host is
 * not configurable to anything but a loopback address.
 */
import { isIP } from 'node:net';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Registry } from 'prom-client';
import { AmbitError, CoreErrors } from '../core/errors.js';
import { isLevel, logs } from '../telemetry/logger.js';
import { type BoundServer, serve } from './http.js';
import type { Readiness } from './readiness.js';

export const ADMIN_PORT = 15000;
export const METRICS_PORT = 15020;
export const READINESS_PORT = 15021;

export interface AdminOptions {
  /** Loopback address to bind; default 127.0.0.1. Non-loopback is refused. */
  host?: string;
  /** Default 15000; 0 picks a free port (tests). */
  port?: number;
  /** Returns the config dump. Must never include private keys. */
  configDump: () => unknown;
  /** Called on POST /quitquitquit, after the reply is sent. */
  onQuit: () => void;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export async function startAdminServer(opts: AdminOptions): Promise<BoundServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      `admin server must bind a loopback address, not ${host}`,
    );
  }
  return serve(host, opts.port ?? ADMIN_PORT, [
    { method: 'GET', path: '/config_dump', handler: () => ({ body: opts.configDump() }) },
    { method: 'GET', path: '/logging', handler: () => ({ body: logs.levels() }) },
    // Envoy's /memory: where the process's memory is (RSS, V8 heap spaces, buffers).
    { method: 'GET', path: '/memory', handler: () => ({ body: memoryReport() }) },
    {
      method: 'POST',
      path: '/logging',
      handler: (_req, url) => {
        // ztunnel style: POST /logging?level=debug  or  ?level=proxy:debug,xds:info
        const spec = url.searchParams.get('level');
        if (spec === null) return { status: 400, body: 'missing ?level=\n' };
        for (const part of spec.split(',')) {
          const [a, b] = part.split(':');
          const component = b === undefined ? undefined : a;
          const level = b ?? a ?? '';
          if (!isLevel(level)) return { status: 400, body: `unknown level ${level}\n` };
          logs.setLevel(level, component);
        }
        return { body: logs.levels() };
      },
    },
    {
      method: 'POST',
      path: '/quitquitquit',
      handler: () => {
        setImmediate(opts.onQuit);
        return { body: 'OK\n' };
      },
    },
    {
      method: 'GET',
      path: '/',
      handler: () => ({ body: 'ambit admin: /config_dump /logging /memory /quitquitquit\n' }),
    },
  ]);
}

export async function startMetricsServer(
  registry: Registry,
  host: string,
  port = METRICS_PORT,
): Promise<BoundServer> {
  const handler = async () => ({
    body: await registry.metrics(),
    contentType: registry.contentType,
  });
  return serve(host, port, [
    { method: 'GET', path: '/metrics', handler },
    { method: 'GET', path: '/stats/prometheus', handler },
  ]);
}

export async function startReadinessServer(
  readiness: Readiness,
  host: string,
  port = READINESS_PORT,
): Promise<BoundServer> {
  return serve(host, port, [
    {
      method: 'GET',
      path: '/healthz/ready',
      handler: () =>
        readiness.ready
          ? { body: 'ready\n' }
          : { status: 503, body: `not ready: waiting for ${readiness.waitingFor.join(', ')}\n` },
    },
  ]);
}

export interface OperationalServersOptions {
  adminAddress: { host: string; port: number };
  metricsAddress: { host: string; port: number };
  readinessAddress: { host: string; port: number };
  registry: Registry;
  readiness: Readiness;
  configDump: () => unknown;
  onQuit: () => void;
  /** Each server is pushed here as soon as it is bound, so a later bind failure can close it. */
  bound: BoundServer[];
}

/** Starts admin, metrics and readiness (every proxy runs all three) and returns their addresses. */
export async function startOperationalServers(opts: OperationalServersOptions) {
  const admin = await startAdminServer({
    host: opts.adminAddress.host,
    port: opts.adminAddress.port,
    configDump: opts.configDump,
    onQuit: opts.onQuit,
  });
  opts.bound.push(admin);
  const metrics = await startMetricsServer(
    opts.registry,
    opts.metricsAddress.host,
    opts.metricsAddress.port,
  );
  opts.bound.push(metrics);
  const readiness = await startReadinessServer(
    opts.readiness,
    opts.readinessAddress.host,
    opts.readinessAddress.port,
  );
  opts.bound.push(readiness);
  return { admin: admin.address, metrics: metrics.address, readiness: readiness.address };
}

const MIB = 1024 * 1024;
const mib = (n: number): number => Math.round((n / MIB) * 10) / 10;

/** Process and V8 heap memory, MiB. */
export function memoryReport(): Record<string, unknown> {
  const m = process.memoryUsage();
  return {
    rss: mib(m.rss),
    heapTotal: mib(m.heapTotal),
    heapUsed: mib(m.heapUsed),
    external: mib(m.external),
    arrayBuffers: mib(m.arrayBuffers),
    heapSpaces: Object.fromEntries(
      getHeapSpaceStatistics().map((s) => [
        s.space_name,
        { size: mib(s.space_size), used: mib(s.space_used_size) },
      ]),
    ),
  };
}
