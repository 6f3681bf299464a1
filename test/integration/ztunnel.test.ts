// Two (three) ztunnels in dedicated mode on loopback, each in front of one
// "pod" (a distinct 127.a.b.x address), local YAML config and a local file CA.
// The client side has no redirection, so apps reach their ztunnel over SOCKS5.
import assert from 'node:assert/strict';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { logs } from '../../src/telemetry/index.js';
import {
  echoServer,
  getText,
  loopbackMesh,
  metricValue,
  roundTrip,
  socksConnect,
  untilReady,
  whoamiServer,
} from '../helpers/ztunnel.js';

const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';
const SERVER = 'spiffe://cluster.local/ns/demo/sa/server';
const INTRUDER = 'spiffe://cluster.local/ns/demo/sa/intruder';

function meshYaml(ip: (h: number) => string, allowed: string[]): string {
  return `
workloads:
- name: client
  namespace: demo
  serviceAccount: client
  workloadIps: ["${ip(2)}"]
  protocol: HBONE
  canonicalName: client
- name: server
  namespace: demo
  serviceAccount: server
  workloadIps: ["${ip(3)}"]
  protocol: HBONE
  canonicalName: echo
  canonicalRevision: v1
  services:
    "demo/echo.demo.svc.cluster.local": {80: 8080}
- name: intruder
  namespace: demo
  serviceAccount: intruder
  workloadIps: ["${ip(4)}"]
  protocol: HBONE
services:
- name: echo
  namespace: demo
  hostname: echo.demo.svc.cluster.local
  vips: ["/${ip(100)}"]
  ports: {80: 8080}
policies:
- name: allow-client
  namespace: demo
  scope: Namespace
  action: Allow
  rules:
  - - - principals: [${allowed.map((p) => `{exact: "${p.replace('spiffe://', '')}"}`).join(', ')}]
`;
}

test('ztunnel: HBONE between two dedicated ztunnels on loopback, policy, telemetry, admin', async (t) => {
  const mesh = loopbackMesh(t);
  const logFile = join(mesh.dir, 'log.jsonl');
  // The fd stays open until the process exits: late log lines must not hit a closed fd.
  logs.configure({ fd: openSync(logFile, 'a'), level: 'info' });

  const serverIp = mesh.ip(3);
  // The app behind ztunnel B: HTTP on the service's target port 8080 is not free
  // on every box, so the service maps to whatever port the app got.
  const httpPort = await whoamiServer(t, serverIp);
  const echoPort = await echoServer(t, serverIp);
  mesh.writeConfig(meshYaml(mesh.ip, [CLIENT]).replaceAll('8080', String(httpPort)));

  const zA = await mesh.startZtunnel('demo/client/client', mesh.ip(2));
  const zB = await mesh.startZtunnel('demo/server/server', serverIp);
  const zC = await mesh.startZtunnel('demo/intruder/intruder', mesh.ip(4));
  await Promise.all([untilReady(zA), untilReady(zB), untilReady(zC)]);
  const socksA = zA.addresses.socks5;
  const socksC = zC.addresses.socks5;
  assert.ok(socksA && socksC);

  await t.test('readiness reports ready', async () => {
    const r = await getText(zB.addresses.readiness, '/healthz/ready');
    assert.equal(r.status, 200);
  });

  await t.test('a TCP stream is carried over HBONE (SOCKS5 with an IPv4 address)', async () => {
    const { reply, socket } = await socksConnect(socksA, serverIp, echoPort, mesh.ip(2));
    assert.equal(reply, 0);
    const payload = 'x'.repeat(200_000);
    assert.equal(await roundTrip(socket, payload), payload);
  });

  await t.test('HTTP requests reach the app through the service name (SOCKS5 domain)', async () => {
    for (const name of ['echo.demo.svc.cluster.local', 'echo']) {
      const { reply, socket } = await socksConnect(socksA, name, 80, mesh.ip(2));
      assert.equal(reply, 0, name);
      const res = await roundTrip(
        socket,
        `GET /hello HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n`,
      );
      assert.match(res, /^HTTP\/1.1 200/);
      const body = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as {
        path: string;
        remote: string;
      };
      assert.equal(body.path, '/hello');
      // Without ENABLE_ORIG_SRC the app sees its ztunnel's address, not the client's.
      assert.notEqual(body.remote, mesh.ip(2));
    }
  });

  await t.test('a denied identity gets 401 (SOCKS5 reply 2) and a closed connection', async () => {
    const { reply, socket } = await socksConnect(socksC, serverIp, echoPort, mesh.ip(4));
    assert.equal(reply, 2);
    await new Promise<void>((r) => (socket.closed ? r() : socket.once('close', () => r())));
    const metrics = (await getText(zB.addresses.metrics, '/metrics')).body;
    assert.ok(
      metricValue(metrics, 'istio_tcp_connections_closed_total', {
        reporter: 'destination',
        source_principal: INTRUDER,
        response_flags: 'DENY',
      }) >= 1,
    );
  });

  await t.test('metrics on both sides carry both identities', async () => {
    const b = (await getText(zB.addresses.metrics, '/stats/prometheus')).body;
    const a = (await getText(zA.addresses.metrics, '/metrics')).body;
    if (process.env.DEBUG_METRICS) console.log(a, b);
    const both = { source_principal: CLIENT, destination_principal: SERVER };
    assert.ok(
      metricValue(b, 'istio_tcp_connections_opened_total', { ...both, reporter: 'destination' }) >=
        3,
    );
    assert.ok(
      metricValue(a, 'istio_tcp_connections_closed_total', {
        ...both,
        reporter: 'source',
        connection_security_policy: 'mutual_tls',
      }) >= 3,
    );
    assert.ok(
      metricValue(b, 'istio_tcp_received_bytes_total', { ...both, reporter: 'destination' }) >=
        200_000,
    );
    assert.ok(
      metricValue(a, 'istio_tcp_connections_opened_total', {
        destination_service: 'echo.demo.svc.cluster.local',
        destination_workload: 'server',
        destination_canonical_service: 'echo',
        source_workload: 'client',
      }) >= 2,
    );
    assert.match(a, /istio_build\{component="ztunnel",tag="[^"]+"\} 1/);
    // Bounded cardinality: no IPs or ports in any label.
    assert.doesNotMatch(a + b, /="127\.\d+\.\d+\.\d+/);
  });

  await t.test('the access log has one line per connection with both identities', () => {
    const lines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.component === 'access');
    const inbound = lines.find(
      (l) => l.direction === 'inbound' && l['src.identity'] === CLIENT && l.bytes_sent === 200_000,
    );
    assert.ok(inbound, 'inbound access log line');
    assert.equal(inbound['dst.identity'], SERVER);
    assert.equal(inbound.bytes_recv, 200_000);
    assert.match(String(inbound['dst.addr']), /:15008$/);
    assert.equal(typeof inbound.duration, 'string');
    const outbound = lines.find(
      (l) => l.direction === 'outbound' && l['dst.service'] === 'echo.demo.svc.cluster.local',
    );
    assert.ok(outbound, 'outbound access log line');
    assert.equal(outbound['src.identity'], CLIENT);
    assert.equal(outbound['dst.identity'], SERVER);
    assert.equal(outbound['dst.workload'], 'server');
    const denied = lines.find((l) => l.direction === 'inbound' && l['src.identity'] === INTRUDER);
    assert.ok(denied);
    assert.equal(denied.response_flags, 'DENY');
    assert.match(String(denied.error), /AMBIT_PROXY_DENIED/);
  });

  await t.test('config_dump shows config and certificates but no private keys', async () => {
    const { status, body } = await getText(zB.addresses.admin, '/config_dump');
    assert.equal(status, 200);
    assert.doesNotMatch(body, /PRIVATE KEY/);
    const dump = JSON.parse(body) as {
      workloads: { name: string }[];
      services: unknown[];
      policies: unknown[];
      certificates: { identity: string; serial?: string; notAfter?: string; state: string }[];
    };
    assert.deepEqual(dump.workloads.map((w) => w.name).sort(), ['client', 'intruder', 'server']);
    assert.equal(dump.services.length, 1);
    assert.equal(dump.policies.length, 1);
    const cert = dump.certificates.find((c) => c.identity === SERVER);
    assert.ok(cert?.serial && cert.notAfter);
    assert.equal(cert.state, 'available');
  });

  await t.test('a policy change closes a live connection that is now denied', async () => {
    const { reply, socket } = await socksConnect(socksA, serverIp, echoPort, mesh.ip(2));
    assert.equal(reply, 0);
    const echoed = new Promise<void>((r) => socket.once('data', () => r()));
    socket.write('ping');
    await echoed;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    // Only the intruder is allowed now; the file watcher re-applies the config.
    mesh.writeConfig(meshYaml(mesh.ip, [INTRUDER]).replaceAll('8080', String(httpPort)));
    await closed;
    assert.equal(zB.connections.size, 0);
    const lines = readFileSync(logFile, 'utf8');
    assert.match(lines, /AMBIT_PROXY_POLICY_CLOSED/);
  });
});
