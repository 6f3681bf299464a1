import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { type RequestRecord, WaypointMetrics } from './metrics.js';

const record = (status: number): RequestRecord => ({
  sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/frontend',
  sourceIp: '10.0.0.1',
  destinationService: 'shop/catalog.shop.svc.cluster.local',
  method: 'GET',
  path: '/',
  authority: 'catalog',
  protocol: 'http',
  status,
  flags: '-',
  durationMs: 1.5,
  requestBytes: 0,
  responseBytes: 10,
});

/** Label tuples the requests counter holds, read without a scrape (which would flush). */
function tuples(registry: Registry): number {
  const m = registry.getSingleMetric('istio_requests_total') as unknown as { size: number };
  return m.size;
}

test('queued request records land within the flush interval, at a scrape, or when many wait', async () => {
  const registry = new Registry();
  const m = new WaypointMetrics(registry);

  // Off the request path: nothing is counted in the tick the request ends…
  m.recordRequest(record(200));
  assert.equal(tuples(registry), 0);
  // …but a scrape always sees every finished request.
  const text = await registry.getSingleMetricAsString('istio_requests_total');
  assert.match(text, /response_code="200"[^}]*} 1$/m);

  // Without a scrape, the batch lands within the interval (50 ms).
  m.recordRequest(record(503));
  assert.equal(tuples(registry), 1);
  await sleep(120);
  assert.equal(tuples(registry), 2);

  // A full queue is recorded at once: memory stays bounded under load.
  for (let i = 0; i < 1023; i++) m.recordRequest(record(404));
  assert.equal(tuples(registry), 2);
  m.recordRequest(record(404));
  assert.equal(tuples(registry), 3);
  assert.match(
    await registry.getSingleMetricAsString('istio_requests_total'),
    /response_code="404"[^}]*} 1024$/m,
  );
  m.flush();
});
