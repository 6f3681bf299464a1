/**
 * The HBONE pool: stream limits per session, one dial per key, idle release,
 * dead-session replacement, GOAWAY drain and the connect timeout.
 */
import assert from 'node:assert/strict';
import type { ClientHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isAmbitError } from '../../src/core/errors.js';
import {
  type Dialer,
  HboneErrors,
  HbonePool,
  type HbonePoolTarget,
} from '../../src/proxy/hbone/index.js';
import { makeCa, workloadCredentials } from '../helpers/certs.js';
import {
  type HboneFixture,
  type Listening,
  listen,
  readAll,
  startEcho,
  startHbone,
  until,
} from '../helpers/hbone.js';

const POD = '127.0.0.2';
const SMALL_POD = '127.0.0.3';

describe('HBONE pool', () => {
  const ca = makeCa();
  const client = workloadCredentials(ca, 'default', 'client');
  const other = workloadCredentials(ca, 'default', 'other-client');
  const server = workloadCredentials(ca, 'default', 'server');
  let fx: HboneFixture;
  let small: HboneFixture;
  let echo: Listening;
  let echoSmall: Listening;
  const pools: HbonePool[] = [];

  const newPool = (opts: ConstructorParameters<typeof HbonePool>[0] = {}): HbonePool => {
    const p = new HbonePool(opts);
    pools.push(p);
    return p;
  };
  const target = (f: HboneFixture, ip: string, creds = client): HbonePoolTarget => ({
    credentials: creds,
    expectedIdentities: [server.identity],
    address: { host: ip, port: f.listeners.get(ip)?.port ?? 0 },
  });
  const open = (pool: HbonePool, t: HbonePoolTarget, port: number): Promise<ClientHttp2Stream> =>
    pool.connect(t, { authority: `${t.address.host}:${port}` });
  const finish = async (streams: ClientHttp2Stream[]): Promise<void> => {
    await Promise.all(
      streams.map(async (s) => {
        s.end('z');
        assert.equal(await readAll(s), 'zEOF');
      }),
    );
  };

  before(async () => {
    echo = await startEcho(POD);
    echoSmall = await startEcho(SMALL_POD);
    fx = await startHbone(new Map([[POD, server]]));
    // A peer that allows only 10 concurrent streams per session.
    small = await startHbone(new Map([[SMALL_POD, server]]), {
      settings: { serverMaxConcurrentStreams: 10 },
    });
  });
  after(async () => {
    for (const p of pools) p.close();
    await fx?.close();
    await small?.close();
    await echo?.close();
    await echoSmall?.close();
  });

  test('more than 100 concurrent streams open a second session to the same key', async () => {
    const pool = newPool();
    const before = fx.hbone.stats().sessions;
    const streams = await Promise.all(
      Array.from({ length: 101 }, () => open(pool, target(fx, POD), echo.port)),
    );
    const st = pool.stats();
    assert.equal(st.sessions, 2);
    assert.equal(st.keys, 1);
    assert.deepEqual(
      st.byKey[0]?.sessions.map((s) => s.activeStreams).sort((a, b) => a - b),
      [1, 100],
    );
    assert.equal(fx.hbone.stats().sessions - before, 2);
    await finish(streams);
  });

  test("the peer's SETTINGS_MAX_CONCURRENT_STREAMS lowers the per-session limit", async () => {
    const pool = newPool();
    const streams = await Promise.all(
      Array.from({ length: 11 }, () => open(pool, target(small, SMALL_POD), echoSmall.port)),
    );
    assert.equal(pool.stats().sessions, 2);
    await finish(streams);
  });

  test('concurrent callers on a fresh key share one dial (one TLS handshake)', async () => {
    const pool = newPool();
    const before = fx.hbone.stats().sessions;
    const streams = await Promise.all(
      Array.from({ length: 50 }, () => open(pool, target(fx, POD), echo.port)),
    );
    assert.equal(pool.stats().dials, 1);
    assert.equal(fx.hbone.stats().sessions - before, 1);
    await finish(streams);
  });

  test('different source identities get different sessions', async () => {
    const pool = newPool();
    const a = await open(pool, target(fx, POD, client), echo.port);
    const b = await open(pool, target(fx, POD, other), echo.port);
    assert.equal(pool.stats().keys, 2);
    assert.equal(pool.stats().sessions, 2);
    await finish([a, b]);
  });

  test('idle sessions are released after the idle timeout', async () => {
    const pool = newPool({ idleTimeoutMs: 100 });
    const s = await open(pool, target(fx, POD), echo.port);
    await finish([s]);
    await until(() => pool.stats().sessions === 0, 'idle release');
    assert.equal(pool.stats().dials, 1);
  });

  test('a dead session is replaced by a new one', async () => {
    const pool = newPool();
    const listener = fx.listeners.get(POD);
    assert.ok(listener);
    const first = await open(pool, target(fx, POD), echo.port);
    await finish([first]);
    const accepted = listener.sockets.length;
    // Kill every server-side connection: the client sees its session die.
    for (const sock of listener.sockets) sock.destroy();
    await until(() => pool.stats().sessions === 0, 'dead session noticed');
    const second = await open(pool, target(fx, POD), echo.port);
    await finish([second]);
    assert.equal(pool.stats().dials, 2);
    assert.ok(listener.sockets.length > accepted);
  });

  test('GOAWAY: open tunnels finish, the session is no longer used, drain resolves', async () => {
    const drainFx = await startHbone(new Map([[POD, server]]));
    try {
      const pool = newPool();
      const t = target(drainFx, POD);
      const tunnel = await open(pool, t, echo.port);
      tunnel.write('before ');
      const drained = drainFx.hbone.drain(10_000);
      await until(() => pool.stats().byKey[0]?.sessions[0]?.usable === false, 'GOAWAY seen');
      tunnel.end('after');
      assert.equal(await readAll(tunnel), 'before afterEOF');
      assert.deepEqual(await drained, { forced: 0 });
    } finally {
      await drainFx.close();
    }
  });

  test('pool drain sends GOAWAY, waits for tunnels, then refuses new work', async () => {
    const pool = newPool();
    const tunnel = await open(pool, target(fx, POD), echo.port);
    const drained = pool.drain(10_000);
    tunnel.end('x');
    assert.equal(await readAll(tunnel), 'xEOF');
    assert.deepEqual(await drained, { forced: 0 });
    await assert.rejects(open(pool, target(fx, POD), echo.port), (e: unknown) =>
      isAmbitError(e, HboneErrors.DRAINING),
    );
  });

  test('pool drain forces sessions still busy at the deadline', async () => {
    const pool = newPool();
    const tunnel = await open(pool, target(fx, POD), echo.port);
    tunnel.on('error', () => {});
    assert.deepEqual(await pool.drain(50), { forced: 1 });
    await until(() => tunnel.destroyed, 'tunnel torn down');
  });

  test('connect timeout names NetworkPolicy; concurrent callers share the one failed dial', async () => {
    let dials = 0;
    const blackhole: Dialer = ({ signal }) => {
      dials += 1;
      return new Promise<Socket>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    };
    const pool = newPool({ connectTimeoutMs: 100, dialer: blackhole });
    const t: HbonePoolTarget = { ...target(fx, POD), address: { host: '10.255.0.1', port: 15008 } };
    const results = await Promise.allSettled([1, 2, 3].map(() => open(pool, t, 80)));
    assert.equal(dials, 1);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const err = (r as PromiseRejectedResult).reason;
      assert.ok(isAmbitError(err, HboneErrors.CONNECT_TIMEOUT), String(err));
      assert.match(err.message, /maybe a NetworkPolicy is blocking HBONE port 15008/);
    }
    assert.equal(pool.stats().dialFailures, 1);
    assert.equal(pool.stats().keys, 0);
  });

  test('a peer that accepts TCP but never speaks TLS times out in the TLS phase', async () => {
    const mute = await listen('127.0.0.6', () => {});
    try {
      const pool = newPool({ connectTimeoutMs: 200 });
      const t: HbonePoolTarget = {
        ...target(fx, POD),
        address: { host: '127.0.0.6', port: mute.port },
      };
      await assert.rejects(open(pool, t, 80), (e: unknown) => {
        assert.ok(isAmbitError(e, HboneErrors.CONNECT_TIMEOUT), String(e));
        assert.equal(e.details.phase, 'tls');
        return true;
      });
    } finally {
      await mute.close();
    }
  });

  test('a refused TCP connect fails fast with DIAL_FAILED', async () => {
    const pool = newPool();
    const t: HbonePoolTarget = { ...target(fx, POD), address: { host: '127.0.0.7', port: 1 } };
    await assert.rejects(open(pool, t, 80), (e: unknown) =>
      isAmbitError(e, HboneErrors.DIAL_FAILED),
    );
  });
});
