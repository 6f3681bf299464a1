// ztunnel lifecycle on loopback: bind conflicts fail startup, SO_REUSEPORT
// hand-off to a new ztunnel without refusing connections, drain with a
// deadline, and waiting for a workload that is not in config yet.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { isAmbitError } from '../../src/core/errors.js';
import { nativeAvailable } from '../../src/platform/index.js';
import {
  echoServer,
  getText,
  loopbackMesh,
  metricValue,
  roundTrip,
  socksConnect,
  untilReady,
} from '../helpers/ztunnel.js';

function yaml(ip: (h: number) => string, withClient = true): string {
  return `
workloads:
${
  withClient
    ? `- name: client
  namespace: demo
  serviceAccount: client
  workloadIps: ["${ip(2)}"]
  protocol: HBONE
`
    : ''
}- name: server
  namespace: demo
  serviceAccount: server
  workloadIps: ["${ip(3)}"]
  protocol: HBONE
`;
}

test('ztunnel: a port conflict rejects build', async (t) => {
  const mesh = loopbackMesh(t);
  mesh.writeConfig(yaml(mesh.ip));
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(15008, mesh.ip(3), r));
  t.after(() => new Promise<void>((r) => squatter.close(() => r())));
  await assert.rejects(
    mesh.startZtunnel('demo/server/server', mesh.ip(3)),
    (err) => isAmbitError(err, 'AMBIT_PROXY_LISTEN_FAILED') && /15008/.test(err.message),
  );
});

test('ztunnel: an outbound connection waits for its workload to appear in config', async (t) => {
  const mesh = loopbackMesh(t);
  const echoPort = await echoServer(t, mesh.ip(3));
  mesh.writeConfig(yaml(mesh.ip, false));
  const zA = await mesh.startZtunnel('demo/client/client', mesh.ip(2));
  const zB = await mesh.startZtunnel('demo/server/server', mesh.ip(3));
  await untilReady(zB);
  assert.ok(zA.addresses.socks5);
  const pending = socksConnect(zA.addresses.socks5, mesh.ip(3), echoPort, mesh.ip(2));
  // The client pod shows up in config only after the connection was made.
  await new Promise((r) => setTimeout(r, 200));
  mesh.writeConfig(yaml(mesh.ip, true));
  const { reply, socket } = await pending;
  assert.equal(reply, 0);
  assert.equal(await roundTrip(socket, 'late'), 'late');
});

test('ztunnel: SO_REUSEPORT hand-off to a new ztunnel, then drain with a deadline', async (t) => {
  if (!nativeAvailable()) {
    t.skip('native addon not built (npm run build:native): no SO_REUSEPORT');
    return;
  }
  const mesh = loopbackMesh(t);
  const echoPort = await echoServer(t, mesh.ip(3));
  mesh.writeConfig(yaml(mesh.ip));
  const zA = await mesh.startZtunnel('demo/client/client', mesh.ip(2));
  const old = await mesh.startZtunnel('demo/server/server', mesh.ip(3));
  await Promise.all([untilReady(zA), untilReady(old)]);
  const socks = zA.addresses.socks5;
  assert.ok(socks);
  const connect = () => socksConnect(socks, mesh.ip(3), echoPort, mesh.ip(2));

  // A long-lived connection on the old ztunnel that never ends by itself.
  const stuck = await connect();
  assert.equal(stuck.reply, 0);
  stuck.socket.on('error', () => {});
  const stuckClosed = new Promise<void>((r) => stuck.socket.once('close', () => r()));
  // One that finishes during the drain.
  const finishing = await connect();
  assert.equal(finishing.reply, 0);

  // The new ztunnel binds the same HBONE port while the old one still listens.
  const fresh = await mesh.startZtunnel('demo/server/server', mesh.ip(3));
  await untilReady(fresh);
  const drained = old.drain(1500);
  // New connections keep working during the hand-off: none is refused.
  for (let i = 0; i < 10; i++) {
    const c = await connect();
    assert.equal(c.reply, 0, `connection ${i} during hand-off`);
    assert.equal(await roundTrip(c.socket, `n${i}`), `n${i}`);
  }
  assert.equal(await roundTrip(finishing.socket, 'bye'), 'bye');
  await drained;
  await stuckClosed;
  assert.equal(old.connections.size, 0);
  assert.ok(fresh.configDump().hbone !== undefined);
  const m = (await getText(zA.addresses.metrics, '/metrics')).body;
  const opened = metricValue(m, 'istio_tcp_connections_opened_total', { reporter: 'source' });
  const closed = metricValue(m, 'istio_tcp_connections_closed_total', { reporter: 'source' });
  assert.equal(opened, 12);
  assert.equal(closed, 12, 'every connection, including the forced one, is recorded');
});
