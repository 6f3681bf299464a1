import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendTraffic, EndpointInfo, RateLimitConfig, RetryConfig } from '../types.js';
import {
  attemptTimeoutMs,
  CircuitBreakers,
  Deadline,
  eligible,
  LoadBalancer,
  OutlierDetector,
  RateLimiter,
  retryBackoffMs,
  shouldRetry,
} from './index.js';

function fakeClock(start = 0) {
  let now = start;
  const clock = () => now;
  return { clock, advance: (ms: number) => (now += ms) };
}

describe('waypoint resilience', () => {
  it('deadline and per-attempt timeout', () => {
    const c = fakeClock();
    const d = new Deadline(c.clock, 1000);
    assert.equal(attemptTimeoutMs(d, 300), 300);
    c.advance(800);
    assert.equal(attemptTimeoutMs(d, 300), 200);
    c.advance(500);
    assert.equal(d.expired(), true);
    assert.equal(attemptTimeoutMs(d, 300), 0);
    assert.equal(attemptTimeoutMs(new Deadline(c.clock, 0), 0), undefined);
  });

  it('retry decisions', () => {
    const cfg: RetryConfig = { codes: new Set([503]), attempts: 2, backoffMs: 10 };
    const base = { retries: 0, responseStarted: false, bodyReplayable: true };
    const table: [
      RetryConfig | undefined,
      Parameters<typeof shouldRetry>[1],
      typeof base,
      boolean,
    ][] = [
      [cfg, { kind: 'status', status: 503 }, base, true],
      [cfg, { kind: 'status', status: 500 }, base, false],
      [cfg, { kind: 'status', status: 503 }, { ...base, retries: 2 }, false],
      [cfg, { kind: 'status', status: 503 }, { ...base, responseStarted: true }, false],
      [cfg, { kind: 'status', status: 503 }, { ...base, bodyReplayable: false }, false],
      [cfg, { kind: 'connect-failure' }, base, true],
      [cfg, { kind: 'timeout' }, base, false],
      [undefined, { kind: 'connect-failure' }, base, true],
      [undefined, { kind: 'connect-failure' }, { ...base, retries: 2 }, false],
      [undefined, { kind: 'status', status: 503 }, base, false],
    ];
    for (const [i, [c, o, s, want]] of table.entries())
      assert.equal(shouldRetry(c, o, s), want, `row ${i}`);
    assert.equal(
      retryBackoffMs(10, 1, () => 0.999),
      9,
    );
    assert.equal(
      retryBackoffMs(10, 3, () => 0.5),
      20,
    );
    assert.equal(
      retryBackoffMs(10, 10, () => 0.999),
      99,
    );
  });

  it('circuit breaker: maxRequests and pending queue overflow', async () => {
    const cb = new CircuitBreakers();
    const limits: BackendTraffic = {
      loadBalancer: 'RoundRobin',
      maxRequests: 3,
      maxConnections: 1,
      maxPendingRequests: 1,
    };
    const a = await cb.acquire('s', limits);
    assert.ok(a.ok);
    const pending = cb.acquire('s', limits);
    assert.deepEqual(await cb.acquire('s', limits), { ok: false, limit: 'maxPendingRequests' });
    assert.equal(cb.stats('s').pending, 1);
    if (a.ok) a.lease.release();
    const b = await pending;
    assert.ok(b.ok);
    const strict: BackendTraffic = { loadBalancer: 'RoundRobin', maxRequests: 1 };
    assert.deepEqual(await cb.acquire('s', strict), { ok: false, limit: 'maxRequests' });
    if (b.ok) b.lease.release();
    assert.deepEqual(cb.stats('s'), { requests: 0, connections: 0, pending: 0 });
  });

  it('outlier: ejects after consecutive errors, grows ejection time, never all', () => {
    const c = fakeClock();
    const od = new OutlierDetector(c.clock);
    const p: BackendTraffic = {
      loadBalancer: 'RoundRobin',
      consecutive5xxErrors: 2,
      baseEjectionTimeMs: 1000,
      maxEjectionPercent: 50,
    };
    const peers = ['a', 'b', 'c', 'd'];
    assert.equal(od.record('a', '5xx', p, peers), false);
    assert.equal(od.record('a', '5xx', p, peers), true);
    assert.equal(od.isEjected('a'), true);
    c.advance(1001);
    assert.equal(od.isEjected('a'), false);
    od.record('a', 'gateway-error', p, peers);
    od.record('a', 'gateway-error', p, peers);
    c.advance(1500);
    assert.equal(od.isEjected('a'), true, 'second ejection lasts 2×base');
    od.record('b', '5xx', p, peers);
    assert.equal(od.record('b', '5xx', p, peers), true);
    od.record('c', '5xx', p, peers);
    assert.equal(od.record('c', '5xx', p, peers), false, 'maxEjectionPercent 50% of 4');
    const one = new OutlierDetector(c.clock);
    one.record(
      'x',
      'connect-failure',
      { loadBalancer: 'RoundRobin', consecutiveConnectFailures: 1 },
      ['x'],
    );
    assert.equal(one.isEjected('x'), false, 'never eject the only endpoint');
    const off = new OutlierDetector(c.clock);
    for (let i = 0; i < 10; i++) off.record('a', '5xx', { loadBalancer: 'RoundRobin' }, peers);
    assert.equal(off.isEjected('a'), false, 'disabled without consecutive* settings');
    const reset = new OutlierDetector(c.clock);
    reset.record('a', '5xx', p, peers);
    reset.record('a', 'success', p, peers);
    assert.equal(reset.record('a', '5xx', p, peers), false, 'success resets the streak');
  });

  it('outlier: the ejection count decays one per interval back in service; healthy endpoints are forgotten', () => {
    const c = fakeClock();
    const od = new OutlierDetector(c.clock);
    const p: BackendTraffic = {
      loadBalancer: 'RoundRobin',
      consecutive5xxErrors: 1,
      baseEjectionTimeMs: 1000,
      intervalMs: 5000,
      maxEjectionPercent: 100,
    };
    const peers = ['a', 'b', 'c'];
    const ejectFor = () => {
      assert.equal(od.record('a', '5xx', p, peers), true);
      const start = c.advance(0);
      let ms = 0;
      while (od.isEjected('a')) ms = c.advance(100) - start;
      return ms;
    };
    assert.equal(ejectFor(), 1000);
    assert.equal(ejectFor(), 2000, 'ejected again at once: 2× base');
    assert.equal(ejectFor(), 3000);
    // Two intervals back in service take two ejections off: the next is 2× base, not 4×.
    c.advance(10_000);
    assert.equal(ejectFor(), 2000);
    // Long healthy: back to 1× base, and a success forgets the endpoint.
    c.advance(60_000);
    od.record('a', 'success', p, peers);
    assert.equal(od.tracked, 0, 'a healthy endpoint with nothing to remember is dropped');
    assert.equal(ejectFor(), 1000);
    // Successes of endpoints never seen failing keep nothing.
    for (let i = 0; i < 100; i++) od.record(`pod-${i}`, 'success', p, peers);
    assert.equal(od.tracked, 1);
  });

  it('outlier: remembered endpoints are bounded; ejected ones are kept', () => {
    const c = fakeClock();
    const od = new OutlierDetector(c.clock);
    const p: BackendTraffic = {
      loadBalancer: 'RoundRobin',
      consecutive5xxErrors: 2,
      baseEjectionTimeMs: 60_000,
      maxEjectionPercent: 100,
    };
    assert.equal(od.record('x', '5xx', p, ['x', 'y']), false);
    assert.equal(od.record('x', '5xx', p, ['x', 'y']), true);
    // Endpoints of churned pods, each with one failure on record.
    for (let i = 0; i < 10_000; i++) od.record(`gone-${i}`, '5xx', p, ['x', 'y']);
    assert.ok(od.tracked <= 4097, `${od.tracked} endpoints remembered`);
    assert.equal(od.isEjected('x'), true, 'an ejected endpoint is never forgotten early');
  });

  it('rate limit: burst, discrete refill, retry-after rounded up, per identity', () => {
    const c = fakeClock();
    const rl = new RateLimiter(c.clock);
    const cfg: RateLimitConfig = {
      requests: 1,
      intervalMs: 1500,
      burst: 2,
      perSourceIdentity: false,
      source: 'd/p',
    };
    assert.deepEqual(rl.take('r', cfg, 'a'), { allowed: true });
    assert.deepEqual(rl.take('r', cfg, 'b'), { allowed: true });
    assert.deepEqual(rl.take('r', cfg, 'a'), { allowed: false, retryAfterSeconds: 2 });
    c.advance(1000);
    assert.deepEqual(rl.take('r', cfg, 'a'), { allowed: false, retryAfterSeconds: 1 });
    c.advance(500);
    assert.deepEqual(rl.take('r', cfg, 'a'), { allowed: true });
    const per = { ...cfg, perSourceIdentity: true, burst: 1 };
    assert.equal(rl.take('p', per, 'a').allowed, true);
    assert.equal(rl.take('p', per, 'a').allowed, false);
    assert.equal(rl.take('p', per, 'b').allowed, true);
  });

  it('load balancer: healthy, non-ejected, locality, round robin, least request', () => {
    const ep = (uid: string, healthy = true, zone = 'z1'): EndpointInfo => ({
      uid,
      address: '10.0.0.1',
      ports: new Map([[80, 8080]]),
      identity: '',
      hbone: false,
      healthy,
      node: '',
      locality: { region: 'r', zone, subzone: '' },
    });
    const eps = [ep('a'), ep('b', false), ep('c'), ep('d', true, 'z2')];
    const base = {
      type: 'RoundRobin' as const,
      port: 80,
      isEjected: (e: EndpointInfo) => e.uid === 'c',
      active: () => 0,
    };
    assert.deepEqual(
      eligible(eps, base).map((e) => e.uid),
      ['a', 'd'],
    );
    assert.deepEqual(
      eligible(eps, { ...base, locality: { region: 'r', zone: 'z2', subzone: '' } }).map(
        (e) => e.uid,
      ),
      ['d'],
    );
    assert.deepEqual(eligible(eps, { ...base, port: 81 }), []);
    const lb = new LoadBalancer();
    const picks = [1, 2, 3, 4].map(() => lb.pick('s', eps, base)?.uid);
    assert.deepEqual(picks, ['a', 'd', 'a', 'd']);
    const active = new Map([
      ['a', 5],
      ['d', 1],
    ]);
    let r = 0;
    const seq = [0, 0.9];
    const least = lb.pick('s', eps, {
      ...base,
      type: 'LeastRequest',
      active: (e) => active.get(e.uid) ?? 0,
      random: () => seq[r++ % 2] ?? 0,
    });
    assert.equal(least?.uid, 'd');
    // A single endpoint takes the same rules without a candidate list.
    for (const [name, one, o, want] of [
      ['healthy', ep('a'), base, 'a'],
      ['unhealthy', ep('b', false), base, undefined],
      ['ejected', ep('c'), base, undefined],
      ['port not served', ep('a'), { ...base, port: 81 }, undefined],
      [
        'other locality only',
        ep('d', true, 'z2'),
        { ...base, locality: { region: 'r', zone: 'z1', subzone: '' } },
        'd',
      ],
    ] as const)
      assert.equal(lb.pick('one', [one], o)?.uid, want, name);
  });
});
