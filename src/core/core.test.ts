import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from './backoff.js';
import { Drain } from './drain.js';
import { formatDuration, parseDuration } from './duration.js';
import { AmbitError, isAmbitError } from './errors.js';

test('parseDuration accepts Go/Kubernetes forms and bare seconds', () => {
  const cases: [string, number][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['1h30m', 5_400_000],
    ['24h', 86_400_000],
    ['90d', 90 * 86_400_000],
    ['86400', 86_400_000],
    ['1.5s', 1500],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, input);
});

test('parseDuration rejects junk with a coded error', () => {
  for (const bad of ['', 'abc', '10x', '5s garbage', '-5s']) {
    assert.throws(
      () => parseDuration(bad),
      (e) => isAmbitError(e, 'AMBIT_DURATION_INVALID'),
      bad,
    );
  }
});

test('formatDuration round-trips common values', () => {
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(parseDuration(formatDuration(86_400_000 + 5000)), 86_405_000);
});

test('Backoff grows exponentially, stays within the cap and resets', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0, random: () => 0.5 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000]);
  b.reset();
  assert.equal(b.next(), 100);
  const j = new Backoff({ initialMs: 1000, maxMs: 150_000, jitter: 0.2, random: () => 1 });
  for (let i = 0; i < 20; i++) assert.ok(j.next() <= 150_000);
});

test('Drain waits for graceful tasks and forces the late ones at the deadline', async () => {
  const drain = new Drain();
  let forced = false;
  drain.register({ name: 'quick', graceful: async () => {}, force: () => {} });
  drain.register({
    name: 'stuck',
    graceful: () => new Promise<void>(() => {}),
    force: () => {
      forced = true;
    },
  });
  const started = Date.now();
  const result = await drain.drain(50);
  assert.deepEqual(result.forced, ['stuck']);
  assert.ok(forced);
  assert.ok(Date.now() - started < 1000);
  assert.equal(await drain.drain(50), result, 'drain is idempotent');
});

test('AmbitError carries code and details, and JSON has no cause', () => {
  const e = new AmbitError('AMBIT_CONFIG_INVALID', 'bad', {
    details: { name: 'X' },
    cause: new Error('inner'),
  });
  assert.equal(e.toString(), '[AMBIT_CONFIG_INVALID] bad');
  assert.deepEqual(e.toJSON(), { code: 'AMBIT_CONFIG_INVALID', message: 'bad', name: 'X' });
  assert.ok(isAmbitError(e, 'AMBIT_CONFIG_INVALID'));
  assert.ok(!isAmbitError(new Error('x')));
});
