// Sockets created inside network namespaces: listeners, outbound dials, source
// address binding, and namespaces pinned by open sockets.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import type net from 'node:net';
import { test } from 'node:test';
import {
  addIpRule,
  addRoute,
  connectFrom,
  deleteNetns,
  execIn,
  listenIn,
  netnsExists,
  run,
} from '../../src/platform/index.js';
import { netnsFixture, skipUnlessRoot } from '../helpers/netns.js';

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/** Two namespaces joined by a veth: a = 10.77.0.1, b = 10.77.0.2. */
async function pair(fx: ReturnType<typeof netnsFixture>) {
  const a = await fx.netns('a');
  const b = await fx.netns('b');
  await fx.veth({
    name: 'eth0',
    netns: a,
    address: '10.77.0.1/24',
    peer: 'eth0',
    peerNetns: b,
    peerAddress: '10.77.0.2/24',
  });
  return { a, b };
}

async function echo(t: { after(fn: () => unknown): void }, netns: string, address = '0.0.0.0') {
  const server = await listenIn(netns, { address, port: 0 });
  const peers: string[] = [];
  server.on('connection', (s) => {
    peers.push(s.remoteAddress ?? '');
    s.pipe(s);
  });
  t.after(() => server.close());
  return { server, peers };
}

async function roundTrip(s: net.Socket, msg: string): Promise<string> {
  await once(s, 'connect');
  s.write(msg);
  const [data] = await once(s, 'data');
  s.destroy();
  return String(data);
}

test('a listener created in a netns accepts connections there and is absent from the host', async (t) => {
  if (skipUnlessRoot(t)) return;
  const fx = netnsFixture(t);
  const { a, b } = await pair(fx);
  const before = readlinkSync('/proc/thread-self/ns/net');
  const { server, peers } = await echo(t, b);
  // The JS thread is back in its own netns after the native call.
  assert.equal(readlinkSync('/proc/thread-self/ns/net'), before);
  const port = portOf(server);

  // Reachable from the neighbour namespace over the veth.
  const s = connectFrom({ netns: a, host: '10.77.0.2', port });
  assert.equal(await roundTrip(s, 'hi'), 'hi');
  assert.deepEqual(peers, ['10.77.0.1']);

  // Listed by ss inside b (owned by this process), not in the host netns.
  const inside = await execIn(b, 'ss', ['-Htlnp', `sport = :${port}`]);
  assert.match(inside.stdout, new RegExp(`pid=${process.pid},`));
  const host = await run('ss', ['-Htlnp', `sport = :${port}`]);
  assert.doesNotMatch(host.stdout, new RegExp(`pid=${process.pid},`));
});

test('connectFrom a pod netns uses the pod IP as source', async (t) => {
  if (skipUnlessRoot(t)) return;
  const fx = netnsFixture(t);
  const { a, b } = await pair(fx);
  const { server, peers } = await echo(t, b);
  const s = connectFrom({ netns: a, host: '10.77.0.2', port: portOf(server), mark: 0x539 });
  assert.equal(await roundTrip(s, 'x'), 'x');
  assert.deepEqual(peers, ['10.77.0.1']);
});

test('IP_TRANSPARENT lets a socket bind a non-local source address; without it bind fails', async (t) => {
  if (skipUnlessRoot(t)) return;
  const fx = netnsFixture(t);
  const { a, b } = await pair(fx);
  // Replies to the spoofed 10.99.0.0/24 go back to a, which delivers them locally
  // through policy routing (as TPROXY setups do); 10.99.0.9 is not a local address of a.
  await addRoute(fx.ledger, b, { to: '10.99.0.0/24', via: '10.77.0.1' });
  await addRoute(fx.ledger, a, { to: '0.0.0.0/0', type: 'local', dev: 'lo', table: 100 });
  await addIpRule(fx.ledger, a, 4, ['to', '10.99.0.0/24', 'lookup', '100']);
  const { server, peers } = await echo(t, b);
  const port = portOf(server);

  const plain = connectFrom({ netns: a, host: '10.77.0.2', port, localAddress: '10.99.0.9' });
  const [err] = (await once(plain, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'EADDRNOTAVAIL');

  const spoofed = connectFrom({
    netns: a,
    host: '10.77.0.2',
    port,
    localAddress: '10.99.0.9',
    transparent: true,
  });
  assert.equal(await roundTrip(spoofed, 'src'), 'src');
  assert.deepEqual(peers, ['10.99.0.9']);
});

test('open sockets pin a deleted netns; closing them lets it (and its veth) go away', async (t) => {
  if (skipUnlessRoot(t)) return;
  const fx = netnsFixture(t);
  const node = await fx.netns('n');
  const pod = await fx.netns('p');
  await fx.veth({ name: 'eth0', netns: pod, peer: 'vpod', peerNetns: node });
  const server = await listenIn(pod, { address: '0.0.0.0', port: 0 });

  await deleteNetns(fx.ledger, pod);
  assert.equal(netnsExists(pod), false);
  const vethAlive = async () =>
    execIn(node, 'ip', ['link', 'show', 'vpod']).then(
      () => true,
      () => false,
    );
  // The name is gone but our listener still holds the namespace: the peer veth lives.
  assert.equal(await vethAlive(), true);

  server.close();
  await once(server, 'close');
  // The kernel tears namespaces down asynchronously; wait for it (bounded).
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    alive = await vethAlive();
    if (alive) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(alive, false, 'the pod netns (and its veth) should be gone once our socket closed');
});
