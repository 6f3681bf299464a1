import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { isAmbitError } from '../core/errors.js';
import { logs } from '../telemetry/logger.js';
import { Readiness } from './readiness.js';
import { startAdminServer, startMetricsServer, startReadinessServer } from './servers.js';

async function get(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method });
  return { status: res.status, body: await res.text() };
}

test('admin server: config dump, runtime log levels, quit; loopback only', async (t) => {
  let quit = false;
  const admin = await startAdminServer({
    port: 0,
    configDump: () => ({ workloads: [] }),
    onQuit: () => (quit = true),
  });
  t.after(() => admin.close());
  const base = `http://127.0.0.1:${admin.address.port}`;
  assert.deepEqual(JSON.parse((await get(`${base}/config_dump`)).body), { workloads: [] });
  const set = await get(`${base}/logging?level=proxy:debug`, 'POST');
  assert.equal(set.status, 200);
  assert.equal(JSON.parse(set.body).proxy, 'debug');
  assert.equal(logs.get('proxy').level, 'debug');
  assert.equal((await get(`${base}/logging?level=loud`, 'POST')).status, 400);
  assert.equal((await get(`${base}/config_dump`, 'POST')).status, 405);
  assert.equal((await get(`${base}/nope`)).status, 404);
  const mem = JSON.parse((await get(`${base}/memory`)).body) as {
    rss: number;
    heapUsed: number;
    heapSpaces: Record<string, { size: number; used: number }>;
  };
  assert.ok(mem.rss > mem.heapUsed && mem.heapUsed > 0, JSON.stringify(mem));
  assert.ok((mem.heapSpaces.new_space?.size ?? -1) >= 0, 'V8 heap spaces are listed');
  assert.equal((await get(`${base}/quitquitquit`, 'POST')).status, 200);
  await new Promise((r) => setImmediate(r));
  assert.ok(quit);
  await assert.rejects(
    startAdminServer({ host: '0.0.0.0', port: 0, configDump: () => ({}), onQuit: () => {} }),
    (e) => isAmbitError(e, 'AMBIT_CONFIG_INVALID'),
  );
});

test('readiness is 503 until every registered task is done', async (t) => {
  const readiness = new Readiness();
  const done = readiness.register('xds');
  const server = await startReadinessServer(readiness, '127.0.0.1', 0);
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address.port}/healthz/ready`;
  const before = await get(url);
  assert.equal(before.status, 503);
  assert.match(before.body, /xds/);
  done();
  assert.equal((await get(url)).status, 200);
});

test('metrics server serves the registry on /metrics and /stats/prometheus', async (t) => {
  const registry = new Registry();
  new Counter({
    name: 'istio_tcp_connections_opened_total',
    help: 'x',
    registers: [registry],
  }).inc();
  const server = await startMetricsServer(registry, '127.0.0.1', 0);
  t.after(() => server.close());
  for (const path of ['/metrics', '/stats/prometheus']) {
    const r = await get(`http://127.0.0.1:${server.address.port}${path}`);
    assert.match(r.body, /istio_tcp_connections_opened_total 1/);
  }
});
