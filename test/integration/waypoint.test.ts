// End to end on loopback: a client ztunnel, a server ztunnel and a waypoint,
// each a "pod" on its own 127.a.b.x address, one local file CA. Traffic from
// the client to the catalog VIP goes over HBONE to the waypoint (authority
// VIP:80), which routes per HTTPRoute and connects over HBONE to the server
// ztunnel with its own identity.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildWaypoint } from '../../src/app/index.js';
import { parseWaypointConfig } from '../../src/config/waypoint.js';
import { loopbackMesh, metricValue, socksConnect, untilReady } from '../helpers/ztunnel.js';

const NS = 'shop';
const H = (n: string) => `${n}.${NS}.svc.cluster.local`;

/** App servers, closed after the test (open ones kept the test process alive). */
const servers: (http.Server | http2.Http2Server)[] = [];

async function app(ip: string, name: string): Promise<number> {
  const seen = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const n = (seen.get(req.url ?? '') ?? 0) + 1;
    seen.set(req.url ?? '', n);
    if (req.url === '/flaky' && n % 2 === 1) {
      res.writeHead(503).end('try again');
      return;
    }
    res.setHeader('x-version', name);
    res.end(name);
  });
  // A WebSocket echo (RFC 6455's sample key and accept); framing is the
  // app's business, the mesh relays bytes.
  server.on('upgrade', (_req, sock: net.Socket) => {
    sock.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Version: ${name}\r\n\r\n`,
    );
    sock.on('data', (d: Buffer) => sock.write(d.toString().toUpperCase()));
    sock.on('end', () => sock.end('bye'));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, ip, r));
  return (server.address() as net.AddressInfo).port;
}

/** Streams of the gRPC app's `Slow` method: never answered; each records when it was torn down. */
const slowCalls: { arrived: number; closed?: number }[] = [];

async function grpcApp(ip: string): Promise<number> {
  const server = http2.createServer();
  servers.push(server);
  server.on('stream', (stream, headers) => {
    if (headers[':path'] === '/helloworld.Greeter/Slow') {
      const call: { arrived: number; closed?: number } = { arrived: performance.now() };
      slowCalls.push(call);
      stream.on('error', () => {});
      stream.on('close', () => {
        call.closed = performance.now();
      });
      stream.resume();
      return;
    }
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () =>
      stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }),
    );
    stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    void headers;
  });
  await new Promise<void>((r) => server.listen(0, ip, r));
  return (server.address() as net.AddressInfo).port;
}

/** Starts a unary gRPC call (empty message) to greeter over a fresh SOCKS5 connection. */
async function grpcCall(
  socks: { address: string; port: number },
  from: string,
  vip: string,
  method: string,
): Promise<{ session: http2.ClientHttp2Session; stream: http2.ClientHttp2Stream }> {
  const { reply, socket } = await socksConnect(socks, vip, 50051, from);
  assert.equal(reply, 0);
  const session = http2.connect(`http://${H('greeter')}:50051`, {
    createConnection: () => socket,
  });
  const stream = session.request({
    ':method': 'POST',
    ':path': `/helloworld.Greeter/${method}`,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  return { session, stream };
}

/** One HTTP/1.1 request over a fresh SOCKS5 connection; returns status, headers, body. */
async function get(
  socks: { address: string; port: number },
  from: string,
  ip: string,
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { reply, socket } = await socksConnect(socks, ip, port, from);
  if (reply !== 0) {
    socket.destroy();
    return { status: -reply, headers: {}, body: '' };
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: 'GET',
        path,
        headers: { host: H('catalog'), ...headers },
        createConnection: () => socket,
      },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('waypoint: HBONE in/out, 90/10 split, header match, retries, L7 deny, WebSocket, gRPC, bypass refused, metrics', async (t) => {
  const mesh = loopbackMesh(t);
  const clientIp = mesh.ip(2);
  const serverIp = mesh.ip(3);
  const wpIp = mesh.ip(9);
  const vip = mesh.ip(100);
  const grpcVip = mesh.ip(101);
  const v1 = await app(serverIp, 'v1');
  const v2 = await app(serverIp, 'v2');
  const g = await grpcApp(serverIp);
  const waypointRef = `waypoint: {destination: "/${wpIp}"}`;
  mesh.writeConfig(`
workloads:
- {name: client, namespace: ${NS}, serviceAccount: client, workloadIps: ["${clientIp}"], protocol: HBONE}
- name: server
  namespace: ${NS}
  serviceAccount: catalog
  workloadIps: ["${serverIp}"]
  protocol: HBONE
  services:
    "${NS}/${H('catalog')}": {80: ${v1}}
    "${NS}/${H('catalog-v1')}": {80: ${v1}}
    "${NS}/${H('catalog-v2')}": {80: ${v2}}
    "${NS}/${H('greeter')}": {50051: ${g}}
- {name: waypoint, namespace: ${NS}, serviceAccount: waypoint, workloadIps: ["${wpIp}"], protocol: HBONE}
services:
- {name: catalog, namespace: ${NS}, hostname: ${H('catalog')}, vips: ["/${vip}"], ports: {80: ${v1}}, ${waypointRef}}
- {name: catalog-v1, namespace: ${NS}, hostname: ${H('catalog-v1')}, ports: {80: ${v1}}}
- {name: catalog-v2, namespace: ${NS}, hostname: ${H('catalog-v2')}, ports: {80: ${v2}}}
- {name: greeter, namespace: ${NS}, hostname: ${H('greeter')}, vips: ["/${grpcVip}"], ports: {50051: ${g}}, ${waypointRef}}
`);
  const ep = (port: number, sp: number) => ({
    workloadUid: 'server',
    address: serverIp,
    ports: { [sp]: port },
    identity: `spiffe://cluster.local/ns/${NS}/sa/catalog`,
    hbone: true,
    healthy: true,
  });
  const wpConfig = join(mesh.dir, 'waypoint.json');
  writeFileSync(
    wpConfig,
    JSON.stringify({
      services: [
        {
          name: 'catalog',
          namespace: NS,
          hostname: H('catalog'),
          waypoint: `${NS}/waypoint`,
          vips: [vip],
          ports: [{ port: 80, name: 'http', appProtocol: 'http' }],
          routes: [
            {
              route: `${NS}/catalog`,
              match: { path: '/', headers: [{ name: 'x-canary', value: 'true' }] },
              backends: [{ service: `${NS}/${H('catalog-v2')}`, port: 80, weight: 1 }],
            },
            {
              route: `${NS}/catalog`,
              ruleIndex: 1,
              match: { path: '/' },
              backends: [
                { service: `${NS}/${H('catalog-v1')}`, port: 80, weight: 90 },
                { service: `${NS}/${H('catalog-v2')}`, port: 80, weight: 10 },
              ],
              retry: { codes: [503], attempts: 3, backoffMs: '5' },
            },
          ],
          policies: [
            {
              name: 'no-admin',
              namespace: NS,
              action: 'DENY',
              rules: [{ to: [{ paths: ['/admin*'] }] }],
            },
          ],
        },
        {
          name: 'greeter',
          namespace: NS,
          hostname: H('greeter'),
          waypoint: `${NS}/waypoint`,
          vips: [grpcVip],
          ports: [{ port: 50051, name: 'grpc', appProtocol: 'grpc' }],
        },
      ],
      endpoints: [
        { name: 'catalog', namespace: NS, hostname: H('catalog'), endpoints: [ep(v1, 80)] },
        { name: 'catalog-v1', namespace: NS, hostname: H('catalog-v1'), endpoints: [ep(v1, 80)] },
        { name: 'catalog-v2', namespace: NS, hostname: H('catalog-v2'), endpoints: [ep(v2, 80)] },
        { name: 'greeter', namespace: NS, hostname: H('greeter'), endpoints: [ep(g, 50051)] },
      ],
    }),
  );

  const zA = await mesh.startZtunnel(`${NS}/client/client`, clientIp);
  const zB = await mesh.startZtunnel(`${NS}/server/catalog`, serverIp);
  const wp = await buildWaypoint(
    parseWaypointConfig(
      {},
      {
        name: 'waypoint',
        namespace: NS,
        localConfig: wpConfig,
        caDir: mesh.caDir,
        bindAddress: wpIp,
        adminPort: '0',
        metricsPort: '0',
        readinessPort: '0',
      },
    ),
  );
  t.after(async () => {
    await wp.destroy();
    for (const s of servers) {
      if ('closeAllConnections' in s) s.closeAllConnections();
      s.close();
    }
  });
  await wp.run();
  await Promise.all([untilReady(zA), untilReady(zB)]);
  assert.equal(wp.readiness.ready, true);
  const socks = zA.addresses.socks5 ?? assert.fail('no socks');

  // 90/10 split over N requests.
  const N = 200;
  let n2 = 0;
  for (let i = 0; i < N; i++) {
    const r = await get(socks, clientIp, vip, 80, '/items');
    assert.equal(r.status, 200, r.body);
    if (r.body === 'v2') n2++;
  }
  const share = n2 / N;
  assert.ok(share > 0.03 && share < 0.2, `v2 share ${share} not ≈ 0.10`);

  // Header match: every request with x-canary: true goes to v2.
  for (let i = 0; i < 20; i++) {
    const r = await get(socks, clientIp, vip, 80, '/items', { 'x-canary': 'true' });
    assert.equal(r.body, 'v2');
  }

  // Retries on 503: each app fails every other /flaky request; the client sees 200.
  for (let i = 0; i < 4; i++) {
    const r = await get(socks, clientIp, vip, 80, '/flaky');
    assert.equal(r.status, 200);
  }

  // L7 deny.
  const denied = await get(socks, clientIp, vip, 80, '/admin/users');
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'RBAC: access denied');

  // WebSocket through the waypoint, HBONE on both of its sides: the 101
  // reaches the client, then bytes flow both ways until both ends close.
  {
    const { reply, socket } = await socksConnect(socks, vip, 80, clientIp);
    assert.equal(reply, 0);
    socket.setEncoding('latin1');
    let got = '';
    socket.on('data', (c: string) => {
      got += c;
    });
    const waitFor = async (what: string) => {
      for (let i = 0; i < 500 && !got.includes(what); i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.ok(got.includes(what), `waited for ${JSON.stringify(what)}: ${JSON.stringify(got)}`);
    };
    socket.write(
      `GET /chat HTTP/1.1\r\nHost: ${H('catalog')}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await waitFor('\r\n\r\n');
    assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(got, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    socket.write('ping');
    await waitFor('PING');
    socket.end();
    await new Promise((r) => socket.once('close', r));
    assert.ok(got.endsWith('bye'), JSON.stringify(got));
  }

  // gRPC (h2c) through the waypoint: status and trailers arrive.
  {
    const { session, stream } = await grpcCall(socks, clientIp, grpcVip, 'SayHello');
    const [headers, trailers, body] = await new Promise<
      [http2.IncomingHttpHeaders, http2.IncomingHttpHeaders, Buffer]
    >((resolve, reject) => {
      let h: http2.IncomingHttpHeaders = {};
      let tr: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (x) => {
        h = x;
      });
      stream.on('trailers', (x) => {
        tr = x;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve([h, tr, Buffer.concat(chunks)]));
      stream.on('error', reject);
    });
    session.close();
    assert.equal(headers[':status'], 200);
    assert.equal(trailers['grpc-status'], '0');
    assert.equal(body.length, 7);
  }

  // A gRPC client cancelling a call (as a deadline does) cancels it at the app
  // through the waypoint and the server's ztunnel at once, not when it answers.
  {
    const { session, stream } = await grpcCall(socks, clientIp, grpcVip, 'Slow');
    stream.on('error', () => {});
    const until = async (ok: () => boolean, what: string) => {
      const deadline = Date.now() + 5000;
      while (!ok()) {
        assert.ok(Date.now() < deadline, what);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => slowCalls.length === 1, 'the slow call never reached the app');
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => slowCalls[0]?.closed !== undefined, 'the app never saw the cancel');
    const call = slowCalls[0] as { arrived: number; closed: number };
    assert.ok(call.closed - call.arrived < 3000, 'cancelled late');
    session.close();
  }

  // Bypass: dialling the pod's catalog port directly is refused by the server's ztunnel…
  const direct = await socksConnect(socks, serverIp, v1, clientIp).catch(() => ({
    reply: -1,
    socket: undefined,
  }));
  direct.socket?.destroy();
  assert.notEqual(direct.reply, 0, 'a direct connection skipping the waypoint was accepted');
  // …while a port no waypoint fronts (catalog-v2 only) still works directly.
  const ok = await get(socks, clientIp, serverIp, v2, '/items');
  assert.equal(ok.status, 200);

  // HTTP metrics.
  const text = await (
    await fetch(`http://${wp.addresses.metrics.address}:${wp.addresses.metrics.port}/metrics`)
  ).text();
  assert.ok(
    metricValue(text, 'istio_requests_total', {
      reporter: 'waypoint',
      response_code: '200',
      destination_service: H('catalog'),
    }) >= N,
    text
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total'))
      .join('\n'),
  );
  assert.ok(metricValue(text, 'istio_requests_total', { response_code: '403' }) >= 1);
  assert.ok(metricValue(text, 'istio_requests_total', { response_code: '101' }) >= 1);
  assert.ok(metricValue(text, 'istio_requests_total', { request_protocol: 'grpc' }) >= 1);
  const zbMetrics = await (
    await fetch(`http://${zB.addresses.metrics.address}:${zB.addresses.metrics.port}/metrics`)
  ).text();
  assert.ok(
    metricValue(zbMetrics, 'istio_tcp_connections_opened_total', {
      source_principal: `spiffe://cluster.local/ns/${NS}/sa/waypoint`,
    }) >= 1,
  );
});
