import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import {
  type CertificateEvent,
  type Clock,
  type ManagedCertificate,
  SecretManager,
} from './secret-manager.js';
import { SpiffeId } from './spiffe.js';

const HOUR = 3600_000;
const WEB = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/web');
const DB = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/db');

/** Manual clock: timers fire only inside advance(), in due order. */
class FakeClock implements Clock {
  private t = Date.parse('2030-01-01T00:00:00Z');
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Delay until the next timer, or undefined. */
  nextIn(): number | undefined {
    const ats = [...this.timers.values()].map((x) => x.at);
    return ats.length ? Math.min(...ats) - this.t : undefined;
  }
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, x]) => x.at <= target)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await settle();
    }
    this.t = target;
    await settle();
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

interface FakeCert extends ManagedCertificate {
  n: number;
  keyPem: string;
}

/** CA stand-in: issues `ttl` certificates, fails while `down`, or holds answers while `hold`. */
class FakeCa {
  calls = 0;
  down = false;
  hold = false;
  private held: (() => void)[] = [];
  constructor(
    private readonly clock: FakeClock,
    private readonly ttl = 24 * HOUR,
  ) {}
  fetchCertificate = async (identity: SpiffeId): Promise<FakeCert> => {
    const n = ++this.calls;
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
    if (this.down) throw new Error(`connect ECONNREFUSED (for ${identity.uri})`);
    const now = this.clock.now();
    return {
      n,
      notBefore: new Date(now),
      notAfter: new Date(now + this.ttl),
      keyPem: '-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----\n',
    };
  };
  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }
}

function setup() {
  const clock = new FakeClock();
  const ca = new FakeCa(clock);
  const sm = new SecretManager<FakeCert>({ fetcher: ca, clock, random: () => 0.5 });
  const events: CertificateEvent<FakeCert>[] = [];
  sm.onChange((e) => events.push(e));
  return { clock, ca, sm, events };
}

test('concurrent fetches of one identity share one CA call', async (t) => {
  const { ca, sm } = setup();
  t.after(() => sm.close());
  ca.hold = true;
  const all = Array.from({ length: 10 }, () => sm.fetch(WEB));
  await settle();
  assert.equal(ca.calls, 1);
  ca.release();
  const certs = await Promise.all(all);
  assert.ok(certs.every((c) => c === certs[0]));
  assert.equal(await sm.fetch(WEB), certs[0], 'cached while valid');
  assert.equal(ca.calls, 1);
  await sm.fetch(DB);
  assert.equal(ca.calls, 2, 'other identities get their own certificate');
});

test('refreshes at half-life and tells listeners', async (t) => {
  const { clock, ca, sm, events } = setup();
  t.after(() => sm.close());
  const first = await sm.fetch(WEB);
  assert.equal(clock.nextIn(), 12 * HOUR, 'NotBefore + lifetime/2 (jitter 0 with random 0.5)');
  await clock.advance(12 * HOUR - 1);
  assert.equal(ca.calls, 1);
  await clock.advance(1);
  assert.equal(ca.calls, 2);
  const second = await sm.fetch(WEB);
  assert.notEqual(second, first);
  assert.deepEqual(
    events.map((e) => [e.type, e.type === 'updated' ? e.certificate.n : 0]),
    [
      ['updated', 1],
      ['updated', 2],
    ],
  );
});

test('refresh jitter stays within ±1 % of the lifetime', async (t) => {
  for (const r of [0, 1]) {
    const clock = new FakeClock();
    const sm = new SecretManager<FakeCert>({ fetcher: new FakeCa(clock), clock, random: () => r });
    t.after(() => sm.close());
    await sm.fetch(WEB);
    const want = 12 * HOUR + (r === 0 ? -1 : 1) * 0.01 * 24 * HOUR;
    assert.equal(clock.nextIn(), want);
  }
});

test('CA down during refresh: old cert kept, retried with capped backoff, refreshed when back', async (t) => {
  const { clock, ca, sm } = setup();
  t.after(() => sm.close());
  const first = await sm.fetch(WEB);
  ca.down = true;
  await clock.advance(12 * HOUR);
  assert.equal(ca.calls, 2);
  assert.equal(await sm.fetch(WEB), first, 'still-valid cert is served');
  const row = sm.dump()[0];
  assert.equal(row?.state, 'retrying');
  assert.equal(row?.failures, 1);
  assert.match(row?.lastError ?? '', /ECONNREFUSED/);

  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    const d = clock.nextIn() as number;
    delays.push(d / 1000);
    await clock.advance(d);
  }
  assert.deepEqual(delays, [1, 2, 4, 8, 16, 32, 64, 128, 150, 150]);
  assert.equal(ca.calls, 12);
  assert.equal(await sm.fetch(WEB), first);

  ca.down = false;
  await clock.advance(clock.nextIn() as number);
  assert.equal(ca.calls, 13);
  const fresh = await sm.fetch(WEB);
  assert.equal(fresh.n, 13);
  assert.equal(sm.dump()[0]?.state, 'available');
  assert.equal(sm.dump()[0]?.failures, 0);
});

test('without a valid cert, fetch fails fast while a retry is pending', async (t) => {
  const { clock, ca, sm } = setup();
  t.after(() => sm.close());
  ca.down = true;
  await assert.rejects(sm.fetch(WEB), (e) => isAmbitError(e, 'AMBIT_IDENTITY_CERT_UNAVAILABLE'));
  assert.equal(ca.calls, 1);
  await assert.rejects(sm.fetch(WEB), /ECONNREFUSED/);
  assert.equal(ca.calls, 1, 'no extra CA call while backing off');
  assert.equal(sm.dump()[0]?.state, 'unavailable');
  ca.down = false;
  await clock.advance(clock.nextIn() as number);
  assert.equal((await sm.fetch(WEB)).n, 2);
});

test('an expired cert is not served', async (t) => {
  const { clock, ca, sm } = setup();
  t.after(() => sm.close());
  await sm.fetch(WEB);
  ca.down = true;
  await clock.advance(25 * HOUR);
  assert.equal(sm.current(WEB), undefined);
  assert.equal(sm.dump()[0]?.state, 'unavailable');
  await assert.rejects(sm.fetch(WEB), (e) => isAmbitError(e, 'AMBIT_IDENTITY_CERT_UNAVAILABLE'));
});

test('track prefetches once; untrack of the last workload drops the cert', async (t) => {
  const { clock, ca, sm, events } = setup();
  t.after(() => sm.close());
  sm.track(WEB);
  sm.track(WEB);
  await settle();
  assert.equal(ca.calls, 1);
  assert.ok(sm.current(WEB));
  assert.equal(sm.dump()[0]?.workloads, 2);
  sm.untrack(WEB);
  assert.ok(sm.current(WEB), 'one workload still uses it');
  sm.untrack(WEB);
  assert.equal(sm.current(WEB), undefined);
  assert.deepEqual(sm.dump(), []);
  assert.equal(events.at(-1)?.type, 'removed');
  await clock.advance(48 * HOUR);
  assert.equal(ca.calls, 1, 'no refresh for a dropped identity');
  sm.untrack(WEB); // extra untrack is harmless
});

test('a fetch that completes after its identity was dropped does not resurrect it', async (t) => {
  const { ca, sm } = setup();
  t.after(() => sm.close());
  ca.hold = true;
  sm.track(WEB);
  const pending = sm.fetch(WEB);
  sm.untrack(WEB);
  ca.release();
  await pending;
  assert.deepEqual(sm.dump(), []);
});

test('dump shows identity, serial fields, validity and state, never key material', async (t) => {
  const { sm } = setup();
  t.after(() => sm.close());
  sm.track(WEB);
  await sm.fetch(WEB);
  const dump = sm.dump();
  assert.equal(dump.length, 1);
  assert.equal(dump[0]?.identity, WEB.uri);
  assert.equal(dump[0]?.state, 'available');
  assert.ok(dump[0]?.notBefore && dump[0]?.notAfter && dump[0]?.nextAttempt);
  const text = JSON.stringify(dump);
  assert.ok(!text.includes('PRIVATE KEY') && !text.includes('TOPSECRET'));
});
