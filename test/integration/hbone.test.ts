/**
 * HBONE end to end on loopback: client → HboneServer → upstream, with the
 * status codes ztunnel's inbound returns. Distinct 127.0.0.x addresses model
 * pod IPs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isAmbitError } from '../../src/core/errors.js';
import {
  formatForwarded,
  HboneErrors,
  type HboneSession,
  newTraceparent,
  openSession,
  type RelayResult,
  relay,
} from '../../src/proxy/hbone/index.js';
import { makeCa, workloadCredentials } from '../helpers/certs.js';
import {
  closedPort,
  connectUpstream,
  type HboneFixture,
  type Listening,
  listen,
  rawH2,
  readAll,
  startEcho,
  startHbone,
  until,
} from '../helpers/hbone.js';

const POD_A = '127.0.0.2';
const POD_B = '127.0.0.3';

describe('HBONE tunnel', () => {
  const ca = makeCa();
  const client = workloadCredentials(ca, 'default', 'client');
  const serverA = workloadCredentials(ca, 'default', 'server-a');
  let fx: HboneFixture;
  let echo: Listening;
  let session: HboneSession;
  const gate: { wait?: Promise<void>; release?: () => void; calls: number } = { calls: 0 };

  before(async () => {
    echo = await startEcho(POD_A);
    fx = await startHbone(new Map([[POD_A, serverA]]), {
      onConnect: async (ctx) => {
        gate.calls += 1;
        if (ctx.headers['x-test-deny'] === 'yes') return { status: 401, reason: 'denied' };
        if (ctx.headers['x-test-gate'] === 'yes') await gate.wait;
        const upstream = await connectUpstream(ctx.destination.ip, ctx.target.port, ctx.signal);
        return { upstream, baggage: 'k8s.namespace.name=default,service.name=server-a' };
      },
    });
    session = await openSession({
      address: { host: POD_A, port: port(fx, POD_A) },
      credentials: client,
      expectedIdentities: [serverA.identity],
    });
  });
  after(async () => {
    session?.destroy();
    await fx?.close();
    await echo?.close();
  });

  test('TCP echo through client → server → upstream, with metadata headers', async () => {
    let responseBaggage: string | undefined;
    const stream = await session.connect({
      authority: `${POD_A}:${echo.port}`,
      headers: {
        baggage: 'k8s.namespace.name=default,service.name=client',
        forwarded: formatForwarded({ ip: '127.0.0.9', port: 40000 }),
        traceparent: newTraceparent(),
      },
      onResponse: (h) => {
        responseBaggage = h.baggage as string | undefined;
      },
    });
    stream.end('hello hbone');
    assert.equal(await readAll(stream), 'hello hboneEOF');
    assert.equal(responseBaggage, 'k8s.namespace.name=default,service.name=server-a');
    assert.equal(session.peerIdentity.uri, serverA.identity.uri);
    await until(() => fx.outcomes.some((o) => o.status === 200 && o.relay), 'outcome');
    const o = fx.outcomes.find((x) => x.status === 200);
    assert.ok(o);
    assert.equal(o.info.peerIdentity.uri, client.identity.uri);
    assert.equal(o.info.destination.ip, POD_A);
    assert.equal(o.info.headers.forwarded, 'for="127.0.0.9:40000"');
    assert.match(String(o.info.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.deepEqual(
      { sent: o.relay?.bytesSent, recv: o.relay?.bytesRecv, reset: o.relay?.reset },
      { sent: 11, recv: 14, reset: false },
    );
  });

  test('HTTP/1.1 requests through the tunnel (app socket → relay → HBONE)', async () => {
    const web = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => res.end(`${req.method} ${req.url} ${body}`));
    });
    web.listen(0, POD_A);
    await once(web, 'listening');
    const webPort = (web.address() as AddressInfo).port;
    // A minimal outbound proxy: each app connection gets its own tunnel, like ztunnel's
    // outbound listener. (Node's http client must not write to an Http2Stream directly:
    // on Node 20 it corrupts string writes; apps always reach us through a socket anyway.)
    const results: Promise<RelayResult>[] = [];
    const outbound = await listen('127.0.0.1', (app) => {
      results.push(
        session.connect({ authority: `${POD_A}:${webPort}` }).then((tunnel) => relay(app, tunnel)),
      );
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const [method, body] of [
        ['GET', ''],
        ['POST', 'payload'],
        ['PUT', 'x'.repeat(100_000)],
      ] as const) {
        const text = await new Promise<string>((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port: outbound.port, method, path: '/x', agent },
            (res) => {
              res.setEncoding('utf8');
              let out = '';
              res.on('data', (d) => {
                out += d;
              });
              res.on('end', () => resolve(`${res.statusCode} ${out}`));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
        assert.equal(text, `200 ${method} /x ${body}`);
      }
      // Three keep-alive requests, one app connection, one tunnel.
      assert.equal(results.length, 1);
    } finally {
      agent.destroy();
      await outbound.close();
      web.close();
    }
    const r = await results[0];
    assert.ok(r && r.bytesSent > 100_000 && r.bytesRecv > 100_000, JSON.stringify(r));
    assert.equal(r.error, undefined);
  });

  async function statusOf(
    authority: string,
    headers: Record<string, string> = {},
  ): Promise<number> {
    try {
      const s = await session.connect({ authority, headers });
      s.end();
      return 200;
    } catch (err) {
      assert.ok(isAmbitError(err, HboneErrors.CONNECT_REJECTED), String(err));
      return err.details.status as number;
    }
  }

  test('foreign authority (IP is not the destination pod) → 400', async () => {
    assert.equal(await statusOf(`${POD_B}:${echo.port}`), 400);
  });

  test("the proxy's own ports are refused with 503 (ztunnel SelfCall)", async () => {
    for (const p of [15001, 15006, 15008, 15080]) {
      assert.equal(await statusOf(`${POD_A}:${p}`), 503, `port ${p}`);
    }
  });

  test('handler deny → 401', async () => {
    assert.equal(await statusOf(`${POD_A}:${echo.port}`, { 'x-test-deny': 'yes' }), 401);
  });

  test('upstream refused → 503', async () => {
    assert.equal(await statusOf(`${POD_A}:${await closedPort(POD_A)}`), 503);
  });

  test('unparseable authority → 400', async () => {
    for (const a of ['nonsense', `${POD_A}:0`, `${POD_A}:99999`, 'fd00::1:80', '[zz]:80']) {
      assert.equal(await statusOf(a), 400, a);
    }
  });

  test('non-CONNECT → 400', async () => {
    const raw = await rawH2(POD_A, port(fx, POD_A), client);
    try {
      const req = raw.request({ ':method': 'GET', ':path': '/' });
      const [headers] = (await once(req, 'response')) as [http.IncomingHttpHeaders];
      assert.equal(headers[':status'], 400);
      req.resume();
      req.end();
    } finally {
      raw.close();
    }
  });

  test('200 is sent only after the handler connected upstream', async () => {
    let release!: () => void;
    gate.wait = new Promise((r) => {
      release = r;
    });
    const before = gate.calls;
    let settled = false;
    const pending = session
      .connect({ authority: `${POD_A}:${echo.port}`, headers: { 'x-test-gate': 'yes' } })
      .finally(() => {
        settled = true;
      });
    await until(() => gate.calls > before, 'handler call');
    // The handler is blocked before its upstream connect: no response may exist yet.
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    release();
    const stream = await pending;
    stream.end('x');
    assert.equal(await readAll(stream), 'xEOF');
    gate.wait = undefined;
  });

  test('the session survives all those rejections', () => {
    assert.equal(session.usable, true);
    assert.equal(fx.hbone.stats().sessions, 2); // ours + the raw GET one
  });
});

function port(fx: HboneFixture, ip: string): number {
  const l = fx.listeners.get(ip);
  assert.ok(l, `no listener for ${ip}`);
  return l.port;
}
