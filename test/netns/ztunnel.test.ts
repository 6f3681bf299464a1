// Two ztunnels (`ambit ztunnel` processes) in dedicated mode, each in its own
// network namespace joined by a veth, in front of an app in each namespace.
// nftables in the client namespace redirects the app's outbound TCP to 15001
// (SO_ORIGINAL_DST), and in the server namespace redirects inbound non-HBONE
// TCP to 15006. Counters on the veth prove that the only traffic between the
// namespaces is to port 15008, and that it is TLS.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CertificateAuthority } from '../../src/controlplane/ca/index.js';
import {
  applyNft,
  connectFrom,
  execIn,
  listenIn,
  nativeAvailable,
  spawnIn,
} from '../../src/platform/index.js';
import { netnsFixture, skipUnlessRoot } from '../helpers/netns.js';

const A_IP = '10.78.0.1';
const B_IP = '10.78.0.2';
const APP_PORT = 7000;
const MARK = 0x539;
const ROOT = new URL('../..', import.meta.url).pathname;

function meshYaml(): string {
  return `
workloads:
- {name: client, namespace: demo, serviceAccount: client, workloadIps: ["${A_IP}"], protocol: HBONE}
- {name: server, namespace: demo, serviceAccount: server, workloadIps: ["${B_IP}"], protocol: HBONE}
policies:
- name: peer-authentication-strict
  namespace: istio-system
  scope: Global
  action: Deny
  rules: [[[{notPrincipals: [{presence: {}}]}]]]
`;
}

async function readyIn(netns: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get(
        {
          path: '/healthz/ready',
          createConnection: () =>
            connectFrom({ netns, host: '127.0.0.1', port: 15021 }) as unknown as net.Socket,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', () => resolve(0));
    });
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ztunnel in ${netns} never became ready`);
}

async function counter(netns: string, table: string, name: string): Promise<number> {
  const { stdout } = await execIn(netns, 'nft', ['list', 'counter', 'inet', table, name]);
  const m = /packets (\d+)/.exec(stdout);
  return Number(m?.[1] ?? Number.NaN);
}

test('ztunnel in two network namespaces: only TLS to 15008 crosses the wire; STRICT denies plaintext', async (t) => {
  if (skipUnlessRoot(t)) return;
  if (!nativeAvailable()) {
    t.skip('native addon not built (npm run build:native): no SO_ORIGINAL_DST / SO_MARK');
    return;
  }
  // Registered before the netns fixture: stop our processes before their netns go.
  const procs: { child: ChildProcess; ns: string; exited: Promise<unknown>; log: () => string }[] =
    [];
  t.after(async () => {
    if (process.env.AMBIT_TEST_LOGS) for (const p of procs) process.stderr.write(p.log());
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      await p.exited;
    }
  });
  const fx = netnsFixture(t);
  const nsA = await fx.netns('za');
  const nsB = await fx.netns('zb');
  await fx.veth({
    name: 'eth0',
    netns: nsA,
    address: `${A_IP}/24`,
    peer: 'eth0',
    peerNetns: nsB,
    peerAddress: `${B_IP}/24`,
  });
  const dir = mkdtempSync(join(tmpdir(), 'ambit-zt-netns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  CertificateAuthority.init(join(dir, 'ca'));
  writeFileSync(join(dir, 'mesh.yaml'), meshYaml());

  const table = fx.name('zt');
  // Client side: capture the app's outbound TCP (not the proxy's own marked sockets).
  await applyNft(
    fx.ledger,
    nsA,
    `table inet ${table} {
  counter hbone {}
  counter other {}
  chain out_nat {
    type nat hook output priority -100;
    meta mark ${MARK} return
    ip daddr 127.0.0.0/8 return
    ip protocol tcp redirect to :15001
  }
  chain wire {
    type filter hook postrouting priority 0;
    oifname "eth0" tcp dport 15008 counter name hbone
    oifname "eth0" tcp dport != 15008 counter name other
  }
}`,
  );
  // Server side: inbound non-HBONE TCP goes to the plaintext port.
  await applyNft(
    fx.ledger,
    nsB,
    `table inet ${table} {
  counter tls {}
  counter other {}
  chain in_nat {
    type nat hook prerouting priority -100;
    iifname "eth0" tcp dport != 15008 redirect to :15006
  }
  chain wire {
    type filter hook prerouting priority -200;
    iifname "eth0" tcp dport 15008 @ih,0,8 0x16 counter name tls
    iifname "eth0" tcp dport != 15008 counter name other
  }
}`,
  );

  const app = await listenIn(nsB, { address: B_IP, port: APP_PORT });
  const seen: string[] = [];
  app.on('connection', (s) => {
    seen.push(s.remoteAddress ?? '');
    s.on('error', () => {});
    s.pipe(s);
  });
  t.after(() => app.close());

  for (const [workload, ns] of [
    ['demo/client/client', nsA],
    ['demo/server/server', nsB],
  ] as const) {
    const child = spawnIn(
      fx.ledger,
      ns,
      process.execPath,
      [
        join(ROOT, 'bin/ambit.js'),
        'ztunnel',
        '--mode',
        'dedicated',
        '--workload',
        workload,
        '--local-config',
        join(dir, 'mesh.yaml'),
        '--ca-dir',
        join(dir, 'ca'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    procs.push({ child, ns, exited: once(child, 'exit'), log: () => stderr });
  }
  try {
    await Promise.all(procs.map((p) => readyIn(p.ns)));
  } catch (err) {
    for (const p of procs) process.stderr.write(p.log());
    throw err;
  }

  // The client app dials the server app directly; nftables sends it through both ztunnels.
  const payload = 'hello through the mesh '.repeat(1000);
  const s = connectFrom({ netns: nsA, host: B_IP, port: APP_PORT });
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.end(payload);
  await once(s, 'close');
  assert.equal(Buffer.concat(chunks).toString(), payload);
  // The app saw ztunnel B (its own pod IP), not the client over the wire.
  assert.deepEqual(seen, [B_IP]);

  assert.ok((await counter(nsA, table, 'hbone')) > 0, 'HBONE packets left the client netns');
  assert.equal(await counter(nsA, table, 'other'), 0, 'nothing but 15008 left the client netns');
  assert.ok((await counter(nsB, table, 'tls')) > 0, 'TLS handshake records arrived on 15008');
  assert.equal(await counter(nsB, table, 'other'), 0);

  // Plaintext from outside the mesh (marked, so A's capture skips it) lands on
  // B's 15006, and STRICT (deny without a peer identity) resets it.
  // (The reset can beat Node's connect callback, so only 'close' is awaited.)
  const plain = connectFrom({ netns: nsA, host: B_IP, port: APP_PORT, mark: MARK });
  plain.on('error', () => {});
  plain.on('connect', () => plain.write('let me in'));
  await new Promise<void>((r) => plain.once('close', () => r()));
  assert.ok((await counter(nsB, table, 'other')) > 0, 'the plaintext attempt was seen');
  assert.deepEqual(seen, [B_IP], 'the app never saw the plaintext connection');
  assert.match(procs[1]?.log() ?? '', /AMBIT_PROXY_DENIED/);

  // SIGTERM drains and exits cleanly.
  const server = procs[1];
  assert.ok(server);
  server.child.kill('SIGTERM');
  const [code] = (await server.exited) as [number];
  assert.equal(code, 0);
});
