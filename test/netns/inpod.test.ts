// The in-pod capture rules in a real pod netns: what ztunnel relies on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { test } from 'node:test';
import { applyInpodRules, inpodTables, removeInpodRules } from '../../src/inpod/index.js';
import {
  type ConnectFromOptions,
  connectFrom,
  execIn,
  listenIn,
  listNftTables,
  type OriginalDst,
  originalDst,
} from '../../src/platform/index.js';
import { netnsFixture, skipUnlessRoot } from '../helpers/netns.js';

const POD_IP = '10.78.0.2';
const OTHER_IP = '10.78.0.1';
const PROBE_IP = '169.254.7.127';

interface Seen {
  remote: string | undefined;
  orig: OriginalDst | undefined;
}

/** An echo listener inside `netns` that records who connected and where they were going. */
async function tracked(
  t: { after(fn: () => unknown): void },
  netns: string,
  address: string,
  port: number,
) {
  const server = await listenIn(netns, { address, port });
  const seen: Seen[] = [];
  server.on('connection', (s: net.Socket) => {
    seen.push({ remote: s.remoteAddress, orig: originalDst(s) });
    s.pipe(s);
  });
  t.after(() => server.close());
  return seen;
}

async function echoVia(opts: ConnectFromOptions): Promise<string> {
  const s = connectFrom(opts);
  try {
    await once(s, 'connect');
    s.write('ping');
    const [data] = await once(s, 'data');
    return String(data);
  } finally {
    s.destroy();
  }
}

test('in-pod rules capture the pod traffic the way ztunnel expects', async (t) => {
  if (skipUnlessRoot(t)) return;
  const fx = netnsFixture(t);
  const pod = await fx.netns('pod');
  const other = await fx.netns('oth');
  await fx.veth({
    name: 'eth0',
    netns: pod,
    address: `${POD_IP}/24`,
    peer: 'eth0',
    peerNetns: other,
    peerAddress: `${OTHER_IP}/24`,
  });
  await execIn(pod, 'ip', ['route', 'add', 'default', 'via', OTHER_IP]);
  await execIn(other, 'ip', ['addr', 'add', `${PROBE_IP}/32`, 'dev', 'eth0']);
  await applyInpodRules(pod, { ledger: fx.ledger });

  const outbound = await tracked(t, pod, '127.0.0.1', 15001);
  const inbound = await tracked(t, pod, '0.0.0.0', 15006);
  const hbone = await tracked(t, pod, '0.0.0.0', 15008);
  const app = await tracked(t, pod, '0.0.0.0', 8081);
  const remote = await tracked(t, other, '0.0.0.0', 8080);

  await t.test(
    'an app connection to another netns lands on 15001 with its original destination',
    async () => {
      assert.equal(await echoVia({ netns: pod, host: OTHER_IP, port: 8080 }), 'ping');
      assert.equal(outbound.length, 1);
      assert.deepEqual(outbound[0]?.orig, { address: OTHER_IP, port: 8080, family: 4 });
      assert.equal(remote.length, 0, 'the destination must not see the captured connection');
    },
  );

  await t.test('a socket marked 0x539 bypasses the outbound redirect', async () => {
    assert.equal(await echoVia({ netns: pod, host: OTHER_IP, port: 8080, mark: 0x539 }), 'ping');
    assert.equal(outbound.length, 1);
    assert.equal(remote.at(-1)?.remote, POD_IP);
  });

  await t.test(
    'inbound TCP to an app port lands on 15006 with the original destination',
    async () => {
      assert.equal(await echoVia({ netns: other, host: POD_IP, port: 8081 }), 'ping');
      assert.deepEqual(inbound.at(-1), {
        remote: OTHER_IP,
        orig: { address: POD_IP, port: 8081, family: 4 },
      });
      assert.equal(app.length, 0);
    },
  );

  await t.test('inbound HBONE on 15008 is delivered directly', async () => {
    assert.equal(await echoVia({ netns: other, host: POD_IP, port: 15008 }), 'ping');
    // Not NATed: conntrack's original destination is the listener's own address.
    assert.deepEqual(hbone.at(-1), {
      remote: OTHER_IP,
      orig: { address: POD_IP, port: 15008, family: 4 },
    });
  });

  await t.test('kubelet probes from 169.254.7.127 reach the app directly', async () => {
    const before = inbound.length;
    assert.equal(
      await echoVia({ netns: other, host: POD_IP, port: 8081, localAddress: PROBE_IP }),
      'ping',
    );
    assert.equal(app.at(-1)?.remote, PROBE_IP);
    assert.equal(inbound.length, before);
  });

  await t.test(
    'the proxy can connect to the app with the client IP as source (connmark 0x111 + table 100)',
    async () => {
      // As ztunnel does for inbound: spoof the real client's IP. Without the
      // mangle rules and table 100 the app's reply would go to OTHER_IP, which resets it.
      const reply = await echoVia({
        netns: pod,
        host: POD_IP,
        port: 8081,
        localAddress: OTHER_IP,
        transparent: true,
        mark: 0x539,
      });
      assert.equal(reply, 'ping');
      assert.equal(app.at(-1)?.remote, OTHER_IP);
    },
  );

  await t.test('applying again is idempotent; removing restores direct traffic', async () => {
    await applyInpodRules(pod, { ledger: fx.ledger });
    const t1 = await execIn(pod, 'nft', ['list', 'table', 'inet', inpodTables().nat]);
    assert.equal(t1.stdout.match(/redirect to :15001/g)?.length, 1);

    await removeInpodRules(pod, { ledger: fx.ledger });
    const names = (await listNftTables(pod)).map((x) => x.name);
    assert.deepEqual(names, []);
    const rules = await execIn(pod, 'ip', ['rule', 'list', 'fwmark', '0x111/0xfff']);
    assert.equal(rules.stdout.trim(), '');
    const outboundBefore = outbound.length;
    assert.equal(await echoVia({ netns: pod, host: OTHER_IP, port: 8080 }), 'ping');
    assert.equal(outbound.length, outboundBefore);
    assert.equal(remote.at(-1)?.remote, POD_IP);
  });
});

test('applyInpodRules refuses a pod that already has Istio capture tables', async (t) => {
  if (skipUnlessRoot(t)) return;
  const fx = netnsFixture(t);
  const pod = await fx.netns('ist');
  await applyInpodRules(pod, { naming: 'istio', ledger: fx.ledger });
  await assert.rejects(applyInpodRules(pod, { ledger: fx.ledger }), {
    code: 'AMBIT_INPOD_FOREIGN_RULES',
  });
});

test('IPv6: with ipv6 rules, outbound lands on [::1]:15001 and IP6T_SO_ORIGINAL_DST recovers the target', async (t) => {
  if (skipUnlessRoot(t)) return;
  const fx = netnsFixture(t);
  const pod = await fx.netns('p6');
  const other = await fx.netns('o6');
  await fx.veth({ name: 'eth0', netns: pod, peer: 'eth0', peerNetns: other });
  // nodad: usable at once, no duplicate-address-detection wait.
  await execIn(pod, 'ip', ['-6', 'addr', 'add', 'fd00:78::2/64', 'dev', 'eth0', 'nodad']);
  await execIn(other, 'ip', ['-6', 'addr', 'add', 'fd00:78::1/64', 'dev', 'eth0', 'nodad']);
  await applyInpodRules(pod, { ipv6: true, ledger: fx.ledger });

  const server = await listenIn(pod, { family: 6, address: '::1', port: 15001, ipv6Only: true });
  t.after(() => server.close());
  const seen: Seen[] = [];
  server.on('connection', (s: net.Socket) => {
    seen.push({ remote: s.remoteAddress, orig: originalDst(s) });
    s.pipe(s);
  });
  assert.equal(await echoVia({ netns: pod, host: 'fd00:78::1', port: 8080 }), 'ping');
  assert.deepEqual(seen, [
    { remote: 'fd00:78::2', orig: { address: 'fd00:78::1', port: 8080, family: 6 } },
  ]);
});
