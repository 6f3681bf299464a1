// The benchmark's own tools (bench/lib): the histogram, the open-loop load
// generator (a server stall must show up in the latency of every request
// scheduled during it: no coordinated omission), and the SVG bar chart.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Histogram, holdIdle, keepAliveLoad } from '../../bench/lib/load.js';
import { barChartSvg } from '../../bench/lib/svg.js';

test('Histogram quantiles are within 0.2 % of the exact values', () => {
  const h = new Histogram();
  for (let i = 1; i <= 100_000; i++) h.record(i);
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = q * 100_000;
    const got = h.quantile(q);
    assert.ok(Math.abs(got - exact) / exact < 0.002, `q${q}: ${got} vs ${exact}`);
  }
  assert.equal(h.total, 100_000);
});

/** HTTP-ish server: 1 KiB responses; stalls every response between `stallFrom` and `stallTo` ms. */
async function server(stall?: { fromMs: number; toMs: number }) {
  const t0 = Date.now();
  const body = 'x'.repeat(1024);
  const reply = `HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n${body}`;
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      const n = d.toString().split('\r\n\r\n').length - 1;
      const send = () => {
        for (let i = 0; i < n; i++) s.write(reply);
      };
      const now = Date.now() - t0;
      if (stall && now >= stall.fromMs && now < stall.toMs) setTimeout(send, stall.toMs - now);
      else send();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
  return { srv, connect };
}

test('keepAliveLoad counts a server stall against every request scheduled during it', async (t) => {
  const { srv, connect } = await server({ fromMs: 400, toMs: 700 });
  t.after(() => srv.close());
  const res = await keepAliveLoad(connect, {
    rps: 500,
    connections: 2,
    durationMs: 1000,
    warmupMs: 0,
    request: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
  });
  assert.equal(res.completed, res.sent);
  // ~30 % of the requests fall in the 300 ms stall; a closed-loop generator
  // would record only a couple of slow requests and keep p90 near zero.
  assert.ok(res.latency.p90Ms > 50, `p90 ${res.latency.p90Ms} ms should show the stall`);
  assert.ok(res.latency.maxMs >= 250, `max ${res.latency.maxMs} ms`);
});

test('holdIdle keeps connections open after one request each', async (t) => {
  const { srv, connect } = await server();
  t.after(() => srv.close());
  const { sockets, errors } = await holdIdle(connect, 50, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 8);
  assert.equal(errors, 0);
  assert.equal(sockets.length, 50);
  assert.ok(sockets.every((s) => !s.destroyed));
  for (const s of sockets) s.destroy();
});

test('barChartSvg draws one bar per value and marks nulls', () => {
  const svg = barChartSvg({
    title: 'a <b>',
    unit: 'ms',
    categories: ['x', 'y'],
    series: [
      { name: 'p50', values: [1, null] },
      { name: 'p99', values: [2, 3] },
    ],
  });
  assert.match(svg, /^<svg /);
  assert.match(svg, /a &lt;b&gt;/);
  // 3 bars + 2 legend swatches + the background.
  assert.equal((svg.match(/<rect /g) ?? []).length, 6);
  assert.equal((svg.match(/>n\/a</g) ?? []).length, 1);
});
