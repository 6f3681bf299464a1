/**
 * Tunnel lifecycles through HBONE: half-close both ways, resets both ways,
 * backpressure with a reader that stops, and thousands of sequential tunnels
 * on one session (nghttp2 rapid-reset protection must never trigger).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  type HboneConnectContext,
  type HboneSession,
  openSession,
} from '../../src/proxy/hbone/index.js';
import { makeCa, workloadCredentials } from '../helpers/certs.js';
import {
  connectUpstream,
  type HboneFixture,
  type Listening,
  listen,
  readAll,
  startEcho,
  startHbone,
  until,
} from '../helpers/hbone.js';

const POD = '127.0.0.2';

describe('HBONE tunnel lifecycle', () => {
  const ca = makeCa();
  const client = workloadCredentials(ca, 'default', 'client');
  const server = workloadCredentials(ca, 'default', 'server');
  let fx: HboneFixture;
  let session: HboneSession;
  let echo: Listening;
  /** Upstream sockets the server opened, by target port. */
  const upstreams: { port: number; socket: Socket }[] = [];

  before(async () => {
    echo = await startEcho(POD);
    fx = await startHbone(new Map([[POD, server]]), {
      onConnect: async (ctx: HboneConnectContext) => {
        const upstream = await connectUpstream(ctx.destination.ip, ctx.target.port, ctx.signal);
        upstreams.push({ port: ctx.target.port, socket: upstream });
        return { upstream };
      },
    });
    session = await openSession({
      address: { host: POD, port: fx.listeners.get(POD)?.port ?? 0 },
      credentials: client,
      expectedIdentities: [server.identity],
    });
  });
  after(async () => {
    session?.destroy();
    await fx?.close();
    await echo?.close();
  });

  /** Relay outcomes so far, once every earlier tunnel has been reported. */
  const settledCount = async (): Promise<number> => {
    await until(() => fx.hbone.stats().activeTunnels === 0, 'earlier tunnels to finish');
    return fx.outcomes.filter((o) => o.relay).length;
  };
  const lastOutcome = async (n: number) => {
    await until(() => fx.outcomes.filter((o) => o.relay).length >= n, `${n} relay outcomes`);
    return fx.outcomes.filter((o) => o.relay)[n - 1]?.relay;
  };

  test('half-close client → upstream: FIN travels as END_STREAM, replies still flow back', async () => {
    const n = await settledCount();
    const t = await session.connect({ authority: `${POD}:${echo.port}` });
    t.end('abc');
    // The echo writes "EOF" only after it saw our FIN, on a connection still open for writing.
    assert.equal(await readAll(t), 'abcEOF');
    const r = await lastOutcome(n + 1);
    assert.deepEqual(r, { bytesSent: 3, bytesRecv: 6, reset: false });
  });

  test('half-close upstream → client: server-first FIN, the client can still send', async () => {
    const received: Buffer[] = [];
    let upstreamSawEnd = false;
    const app = await listen(POD, (s) => {
      s.end('hello'); // FIN first, keep reading
      s.on('data', (d) => received.push(d));
      s.on('end', () => {
        upstreamSawEnd = true;
      });
    });
    try {
      const t = await session.connect({ authority: `${POD}:${app.port}` });
      assert.equal(await readAll(t), 'hello');
      t.end('late data');
      await once(t, 'close');
      await until(() => upstreamSawEnd, 'upstream FIN');
      assert.equal(Buffer.concat(received).toString(), 'late data');
    } finally {
      await app.close();
    }
  });

  test('client resets its stream: upstream is reset, outcome is a reset without error', async () => {
    const n = await settledCount();
    const t = await session.connect({ authority: `${POD}:${echo.port}` });
    t.write('x');
    await once(t, 'data');
    const upstream = upstreams.at(-1)?.socket;
    assert.ok(upstream);
    t.close(8); // RST_STREAM(CANCEL)
    await until(() => upstream.destroyed, 'upstream closed');
    const r = await lastOutcome(n + 1);
    assert.equal(r?.reset, true);
    assert.equal(r?.error, undefined);
    assert.equal(session.usable, true);
  });

  test('upstream resets: the client stream is reset, session survives', async () => {
    const app = await listen(POD, (s) => {
      s.on('data', () => s.resetAndDestroy());
    });
    try {
      const t = await session.connect({ authority: `${POD}:${app.port}` });
      t.on('error', () => {});
      t.write('trigger');
      await once(t, 'close');
      assert.notEqual(t.rstCode, 0, 'stream should end with RST_STREAM');
      const again = await session.connect({ authority: `${POD}:${echo.port}` });
      again.end('still ok');
      assert.equal(await readAll(again), 'still okEOF');
    } finally {
      await app.close();
    }
  });

  test('a reader that stops reading bounds memory (backpressure end to end)', async () => {
    let stalledUpstream: Socket | undefined;
    const app = await listen(POD, (s) => {
      s.pause(); // never reads
      stalledUpstream = s;
    });
    try {
      const t = await session.connect({ authority: `${POD}:${app.port}` });
      const chunk = Buffer.alloc(256 * 1024, 7);
      const limit = 512 * 1024 * 1024;
      let written = 0;
      let stalled = false;
      while (written < limit) {
        written += chunk.length;
        if (t.write(chunk)) continue;
        // A drain that does not come within 1 s means the pipeline is full (a hang
        // guard, not a timing assertion: without backpressure we would hit `limit`).
        const drained = await Promise.race([
          once(t, 'drain').then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
        ]);
        if (!drained) {
          stalled = true;
          break;
        }
      }
      assert.equal(stalled, true, `wrote ${written} bytes without ever stalling`);
      // Socket buffers + 4 MiB stream window + stream high-water marks; far below `limit`.
      assert.ok(written < 96 * 1024 * 1024, `accepted ${written} bytes before stalling`);
      const up = upstreams.at(-1)?.socket;
      assert.ok(up && stalledUpstream);
      // The server's write side towards the app is held at about one high-water mark.
      assert.ok(up.writableLength <= 2 * 1024 * 1024, `upstream buffered ${up.writableLength}`);
      t.close(8);
    } finally {
      await app.close();
    }
  });

  test('2100 sequential tunnels on one session: the session never dies', async () => {
    const before = fx.hbone.stats().sessions;
    for (let i = 0; i < 2100; i++) {
      const t = await session.connect({ authority: `${POD}:${echo.port}` });
      t.end('.');
      const got = await readAll(t);
      if (got !== '.EOF') assert.fail(`tunnel ${i} got ${JSON.stringify(got)}`);
    }
    assert.equal(session.usable, true);
    assert.equal(fx.hbone.stats().sessions, before, 'no new session was needed');
    await until(() => session.activeStreams === 0, 'streams closed');
  });
});
