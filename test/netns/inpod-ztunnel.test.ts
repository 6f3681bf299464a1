// Shared (in-pod) mode end to end: a node netns routing between two pod netns,
// a shared-mode ztunnel (in-process) and the NodeAgent enrolling the pods over
// ZDS. Pod A's plain connection to pod B's app port is captured by A's in-pod
// rules, carried over HBONE from A's netns to B's 15008 and delivered by B's
// in-pod proxy; counters in the node netns show what crossed the veths.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildZtunnel, type Ztunnel } from '../../src/app/ztunnel.js';
import { parseZtunnelConfig } from '../../src/config/ztunnel.js';
import { CertificateAuthority } from '../../src/controlplane/ca/index.js';
import { applyInpodAnchor, type EnrolledPod, NodeAgent } from '../../src/inpod/index.js';
import { SERVICE_TABLE, serviceRuleset } from '../../src/local/render.js';
import type { ServicePlan } from '../../src/local/topology.js';
import {
  applyNft,
  connectFrom,
  deleteNftTable,
  execIn,
  listenIn,
  listNftTables,
  nativeAvailable,
  setSysctl,
} from '../../src/platform/index.js';
import { netnsFixture, skipUnlessRoot } from '../helpers/netns.js';

const A_IP = '10.79.1.2';
const B_IP = '10.79.2.2';
const APP = 7000;
const DENIED_PORT = 7001;
const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';
const SERVER = 'spiffe://cluster.local/ns/demo/sa/server';

const MESH = `
workloads:
- {uid: a, name: client, namespace: demo, serviceAccount: client, workloadIps: ["${A_IP}"], protocol: HBONE, node: node1}
- {uid: b, name: server, namespace: demo, serviceAccount: server, workloadIps: ["${B_IP}"], protocol: HBONE, node: node1}
policies:
- name: deny-7001
  namespace: istio-system
  scope: Global
  action: Deny
  rules: [[[{destinationPorts: [${DENIED_PORT}]}]]]
`;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function counter(netns: string, table: string, name: string): Promise<number> {
  const { stdout } = await execIn(netns, 'nft', ['list', 'counter', 'inet', table, name]);
  return Number(/packets (\d+)/.exec(stdout)?.[1] ?? Number.NaN);
}

const opened = new Set<net.Socket>();

/** Opens a connection from inside `netns` (as an app would) and waits for it. */
async function open(netns: string, port: number): Promise<net.Socket> {
  const s = connectFrom({ netns, host: B_IP, port });
  opened.add(s);
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

async function echo(s: net.Socket, msg: string): Promise<string> {
  s.write(msg);
  const [d] = await once(s, 'data');
  return String(d);
}

async function echoWithin(s: net.Socket, msg: string, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([echo(s, msg), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** 'closed' if the peer closed/reset the connection without answering, else the answer. */
async function tryEcho(netns: string, port: number): Promise<string> {
  const s = connectFrom({ netns, host: B_IP, port });
  s.on('error', () => {});
  s.on('connect', () => s.write('hi'));
  return new Promise((resolve) => {
    s.once('data', (d) => {
      resolve(String(d));
      s.destroy();
    });
    s.once('close', () => resolve('closed'));
  });
}

test('shared mode: node agent + in-pod ztunnel carry pod traffic over HBONE', async (t) => {
  if (skipUnlessRoot(t)) return;
  if (!nativeAvailable()) {
    t.skip('native addon not built');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ambit-inpod-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  CertificateAuthority.init(join(dir, 'ca'));
  writeFileSync(join(dir, 'mesh.yaml'), MESH);
  const socketPath = join(dir, 'run', 'ztunnel.sock');
  const config = parseZtunnelConfig(
    { CONNECTION_TERMINATION_DEADLINE: '30s' },
    {
      mode: 'shared',
      nodeName: 'node1',
      inpodSocket: socketPath,
      localConfig: join(dir, 'mesh.yaml'),
      caDir: join(dir, 'ca'),
      adminPort: '0',
      metricsPort: '0',
      readinessPort: '0',
    },
  );
  let zt: Ztunnel | undefined;
  const agentBox: { agent?: NodeAgent } = {};
  // Registered before the fixture: sockets pin namespaces, close them first.
  t.after(async () => {
    for (const s of opened) s.destroy();
    await zt?.destroy();
    await agentBox.agent?.close();
  });

  const fx = netnsFixture(t);
  const node = await fx.netns('nd');
  const podA = await fx.netns('pa');
  const podB = await fx.netns('pb');
  await setSysctl(node, 'net.ipv4.ip_forward', '1');
  for (const [pod, ip, dev, gw] of [
    [podA, A_IP, 'va', '10.79.1.1'],
    [podB, B_IP, 'vb', '10.79.2.1'],
  ] as const) {
    await fx.veth({
      name: 'eth0',
      netns: pod,
      address: `${ip}/24`,
      peer: dev,
      peerNetns: node,
      peerAddress: `${gw}/24`,
    });
    await execIn(pod, 'ip', ['route', 'add', 'default', 'via', gw]);
  }
  const table = fx.name('wire');
  await applyNft(
    fx.ledger,
    node,
    `table inet ${table} {
  counter hbone {}
  counter plain {}
  chain wire {
    type filter hook forward priority 0;
    tcp dport 15008 counter name hbone
    tcp dport { ${APP}, ${DENIED_PORT} } counter name plain
  }
}`,
  );
  // The apps in pod B: echo servers that record who connected.
  const seen: string[] = [];
  for (const port of [APP, DENIED_PORT]) {
    const app = await listenIn(podB, { address: '0.0.0.0', port });
    app.on('connection', (s) => {
      seen.push(s.remoteAddress ?? '');
      s.on('error', () => {});
      s.pipe(s);
    });
    t.after(() => app.close());
  }

  const agent = new NodeAgent({ socketPath, ledger: fx.ledger });
  agentBox.agent = agent;
  await agent.start();
  const pods: Record<'a' | 'b', EnrolledPod> = {
    a: {
      uid: 'uid-a',
      namespace: 'demo',
      name: 'client',
      serviceAccount: 'client',
      netns: podA,
      ips: [A_IP],
    },
    b: {
      uid: 'uid-b',
      namespace: 'demo',
      name: 'server',
      serviceAccount: 'server',
      netns: podB,
      ips: [B_IP],
    },
  };
  await agent.enroll(pods.a);
  await agent.enroll(pods.b);
  assert.equal(agent.ztunnelConnected, false, 'no ztunnel yet: enrolments wait for the snapshot');

  const startZtunnel = async (): Promise<Ztunnel> => {
    const z = await buildZtunnel(config);
    await z.run();
    await until('ztunnel ready', () => z.readiness.ready && agent.ztunnelConnected);
    await until('both certificates', () => {
      const certs = z.configDump().certificates as { identity: string; state: string }[];
      return [CLIENT, SERVER].every((id) =>
        certs.some((c) => c.identity === id && c.state === 'available'),
      );
    });
    return z;
  };
  zt = await startZtunnel();

  await t.test('pod traffic is captured and carried over HBONE with both identities', async () => {
    const s = await open(podA, APP);
    assert.equal(await echo(s, 'hello'), 'hello');
    s.destroy();
    assert.deepEqual(seen, [B_IP], "B's in-pod proxy delivered it from B's own IP");
    assert.ok((await counter(node, table, 'hbone')) > 0, 'HBONE crossed the node');
    assert.equal(
      await counter(node, table, 'plain'),
      0,
      'no plaintext to the app port crossed the node',
    );
    const metrics = await zt!.registry.getSingleMetricAsString(
      'istio_tcp_connections_opened_total',
    );
    assert.match(
      metrics,
      new RegExp(
        `reporter="source"[^\\n]*source_principal="${CLIENT}"[^\\n]*destination_principal="${SERVER}"`,
      ),
    );
    assert.match(metrics, new RegExp(`reporter="destination"[^\\n]*source_principal="${CLIENT}"`));
    const dump = zt!.configDump() as { enrolled: { name: string; netns: string }[] };
    assert.deepEqual(dump.enrolled.map((p) => p.name).sort(), ['client', 'server']);
  });

  await t.test('policy deny: the denied port never reaches the app', async () => {
    const before = seen.length;
    assert.equal(await tryEcho(podA, DENIED_PORT), 'closed');
    assert.equal(seen.length, before);
    assert.equal(await counter(node, table, 'plain'), 0);
  });

  // Un-enrolment removes the capture while the connection is redirected to
  // ztunnel: only the netns anchor (rules.ts anchorRuleset) keeps conntrack
  // translating it; without it the app's next segment left un-NATed to B and
  // B answered with a RST.
  await t.test(
    'un-enrol keeps the open connection; new ones go direct; re-enrol captures again',
    async () => {
      try {
        const s = await open(podA, APP);
        assert.equal(await echo(s, 'one'), 'one');
        await agent.release(pods.a.uid);
        assert.deepEqual(
          agent.enrolled().map((p) => p.uid),
          [pods.b.uid],
        );
        assert.equal(
          await echo(s, 'two'),
          'two',
          'the open connection survives un-enrolment (drain)',
        );
        // New connection from A goes out plain (B is still enrolled: it lands on B's 15006).
        assert.equal(await tryEcho(podA, APP), 'hi');
        assert.ok(
          (await counter(node, table, 'plain')) > 0,
          'the new connection crossed the node in plaintext',
        );
        assert.equal(await echo(s, 'three'), 'three');
        s.destroy();
        await agent.enroll(pods.a);
        await agent.enroll(pods.a); // idempotent
        const plain = await counter(node, table, 'plain');
        assert.equal(await tryEcho(podA, APP), 'hi');
        assert.equal(await counter(node, table, 'plain'), plain, 're-enrolled: back over HBONE');
      } finally {
        await agent.enroll(pods.a);
      }
    },
  );

  await t.test('podDeleted closes every socket ztunnel holds in the pod', async () => {
    try {
      const s = await open(podA, APP);
      assert.equal(await echo(s, 'x'), 'x');
      let closed = false;
      s.once('close', () => {
        closed = true;
      });
      await agent.release(pods.a.uid, { podDeleted: true });
      await until('the app connection to close', () => closed, 5000);
      // ztunnel runs in this process and the test's own app sockets are all
      // closed by now: no socket of this process may be left in pod A
      // (listeners, accepted, upstream, pooled HBONE). TIME-WAIT and orphaned
      // closing sockets belong to no process.
      let left = '';
      await until('no ztunnel sockets left in pod A', async () => {
        const { stdout } = await execIn(podA, 'ss', ['-Htanp']);
        left = stdout
          .split('\n')
          .filter((l) => l.includes(`pid=${process.pid},`))
          .join('\n');
        return left === '';
      }).catch((err: unknown) => {
        throw new Error(`${String(err)}:\n${left}`);
      });
    } finally {
      await agent.enroll(pods.a);
    }
  });

  await t.test('un-enrolling the server keeps its open inbound connection (drain)', async () => {
    try {
      const s = await open(podA, APP);
      assert.equal(await echo(s, 'in1'), 'in1');
      // B's ztunnel reaches B's app from A's (spoofed) address: the app's
      // replies need the connmark restore and policy routing, kept on release.
      await agent.release(pods.b.uid);
      assert.equal(await echo(s, 'in2'), 'in2', 'the inbound leg survives un-enrolment');
      s.destroy();
    } finally {
      await agent.enroll(pods.b);
    }
  });

  await t.test('a plain VIP connection opened before enrolment survives enrolment', async () => {
    const vip = '10.96.0.10';
    const services: ServicePlan[] = [
      {
        name: 'server',
        namespace: 'demo',
        vip,
        ports: [{ port: 80, protocol: 'TCP' }],
        endpoints: [{ pod: 'server', ip: B_IP, ports: [APP] }],
      },
    ];
    try {
      await agent.release(pods.a.uid);
      // What the local cluster does: the anchor with the netns (idempotent
      // here, A was enrolled before), kube-proxy's DNAT while not enrolled.
      await applyInpodAnchor(podA);
      await applyNft(fx.ledger, podA, serviceRuleset(services));
      const s = connectFrom({ netns: podA, host: vip, port: 80 });
      opened.add(s);
      s.on('error', () => {});
      await once(s, 'connect');
      assert.equal(await echo(s, 'v1'), 'v1');
      // Enrolment, in the runner's order: the DNAT table goes, the capture comes.
      await deleteNftTable(fx.ledger, podA, 'ip', SERVICE_TABLE);
      // Traffic in the gap between the two: with no nat chain left in the
      // netns the kernel has no NAT hook to translate the established flow
      // with; the anchor's chains keep one (without it this times out).
      assert.equal(await echoWithin(s, 'gap', 3000), 'gap', 'translated between the rule sets');
      await agent.enroll(pods.a);
      assert.equal(await echo(s, 'v2'), 'v2', 'the DNATed connection survives enrolment');
      s.destroy();
    } finally {
      await agent.enroll(pods.a);
    }
  });

  await t.test('a garbage frame on the UDS does not break the agent', async () => {
    const g = netConnect(socketPath);
    g.on('error', () => {});
    g.write(Buffer.from([0, 0, 0, 2, 0x08, 0xff]));
    await once(g, 'close');
    assert.equal(agent.ztunnelConnected, true);
    assert.equal(await tryEcho(podA, APP), 'hi');
  });

  await t.test('ztunnel restart: pods keep their rules and get the snapshot again', async () => {
    await zt!.destroy();
    await until('agent sees ztunnel gone', () => !agent.ztunnelConnected);
    const tables = (await listNftTables(podA)).map((x) => x.name);
    assert.ok(tables.includes('ambit-nat'), 'capture stays while ztunnel is down');
    assert.equal(await tryEcho(podA, APP), 'closed', 'fails closed while ztunnel is down');
    zt = await startZtunnel();
    const dump = zt.configDump() as { enrolled: { name: string }[] };
    assert.deepEqual(dump.enrolled.map((p) => p.name).sort(), ['client', 'server']);
    const plain = await counter(node, table, 'plain');
    assert.equal(await tryEcho(podA, APP), 'hi');
    assert.equal(await counter(node, table, 'plain'), plain);
  });
});
