// End to end on loopback: `ambit controlplane` watching a manifest directory,
// two dedicated-mode ztunnels that get their config over delta xDS and their
// certificates from the control plane's CA with node tokens (the path a real
// node uses; no local CA). Pods are distinct 127.a.b.x addresses; the client
// app reaches its ztunnel over SOCKS5 (no redirection on loopback).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { buildControlPlane, type ControlPlane } from '../../src/app/controlplane.js';
import { buildZtunnel, type Ztunnel } from '../../src/app/index.js';
import { parseControlPlaneConfig } from '../../src/config/controlplane.js';
import { parseZtunnelConfig } from '../../src/config/ztunnel.js';
import { echoServer, getText, metricValue, socksConnect } from '../helpers/ztunnel.js';
import { startControlPlane, tempDirs, until } from './controlplane-fixture.js';

const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';
const SERVER = 'spiffe://cluster.local/ns/demo/sa/server';
const POLICY_KEY = 'demo/allow-client';
const BIN = new URL('../../bin/ambit.js', import.meta.url).pathname;

function prefix(): string {
  const a = 20 + ((process.pid + 101) % 200);
  const b = Math.floor(Math.random() * 250) + 1;
  return `127.${a}.${b}`;
}

function pod(name: string, sa: string, app: string, node: string, ip: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: demo
  labels: { app: ${app} }
spec:
  serviceAccountName: ${sa}
  nodeName: ${node}
  containers: [{ name: app, image: demo }]
status:
  phase: Running
  podIP: ${ip}
  podIPs: [{ ip: ${ip} }]
  conditions: [{ type: Ready, status: "True" }]
`;
}

function policy(principal: string): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-client, namespace: demo }
spec:
  selector: { matchLabels: { app: server } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [${principal}] } }]
`;
}

interface Mesh {
  ip(h: number): string;
  manifests: string;
  state: string;
  echoPort: number;
}

async function writeMesh(t: TestContext): Promise<Mesh> {
  const root = await mkdtemp(join(tmpdir(), 'ambit-e2e-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const p = prefix();
  const ip = (h: number) => `${p}.${h}`;
  const manifests = join(root, 'manifests');
  await mkdir(manifests);
  const echoPort = await echoServer(t, ip(3));
  await writeFile(
    join(manifests, '00-namespace.yaml'),
    `apiVersion: v1
kind: Namespace
metadata: { name: istio-system }
---
apiVersion: v1
kind: Namespace
metadata: { name: demo, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: client, namespace: demo }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: server, namespace: demo }
`,
  );
  await writeFile(
    join(manifests, '10-pods.yaml'),
    `${pod('client-0', 'client', 'client', 'node-a', ip(2))}---\n${pod('server-0', 'server', 'server', 'node-b', ip(3))}`,
  );
  await writeFile(
    join(manifests, '20-services.yaml'),
    `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: demo }
spec:
  clusterIP: ${ip(100)}
  selector: { app: server }
  ports: [{ name: tcp-echo, port: 80, targetPort: ${echoPort} }]
`,
  );
  await writeFile(join(manifests, '30-policy.yaml'), policy('cluster.local/ns/demo/sa/client'));
  return { ip, manifests, state: join(root, 'state'), echoPort };
}

async function startPlane(t: TestContext, mesh: Mesh, port = 0): Promise<ControlPlane> {
  const plane = await buildControlPlane(
    parseControlPlaneConfig(
      {},
      {
        manifests: mesh.manifests,
        stateDir: mesh.state,
        port: String(port),
        listen: '127.0.0.1',
        monitoringPort: '0',
        debounce: '20ms',
      },
    ),
  );
  t.after(() => plane.destroy());
  await plane.run();
  return plane;
}

async function startZtunnel(
  t: TestContext,
  plane: ControlPlane,
  mesh: Mesh,
  workload: string,
  node: string,
  ip: string,
  opts: { cliToken?: boolean } = {},
): Promise<Ztunnel> {
  const tokenFile = join(mesh.state, `${node}.token`);
  if (opts.cliToken) {
    // What an operator does while the control plane runs: a separate process writes the token.
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    await promisify(execFile)(
      process.execPath,
      [
        BIN,
        'controlplane',
        'issue-node-token',
        '--state-dir',
        mesh.state,
        '--node',
        node,
        '--out',
        tokenFile,
      ],
      { timeout: 60_000, env: { ...process.env, NODE_V8_COVERAGE: '' } },
    );
  } else {
    await plane.tokens.issue(node, tokenFile);
  }
  const zt = await buildZtunnel(
    parseZtunnelConfig(
      { AMBIT_WORKLOAD_WAIT_TIMEOUT: '3s' },
      {
        mode: 'dedicated',
        workload,
        nodeName: node,
        xdsAddress: plane.addresses.grpc,
        caRoot: join(mesh.state, 'ca', 'root-cert.pem'),
        tokenFile,
        socks5: true,
        bindAddress: ip,
        outboundPort: '0',
        inboundPlaintextPort: '0',
        socks5Port: '0',
        adminPort: '0',
        metricsPort: '0',
        readinessPort: '0',
      },
    ),
  );
  t.after(() => zt.destroy());
  await zt.run();
  await until(`${workload} ready`, () => zt.readiness.ready);
  return zt;
}

/** Opens A → B's echo app through A's SOCKS5 and checks one round trip. */
async function openEcho(
  zA: Ztunnel,
  mesh: Mesh,
): Promise<{ reply: number; socket: net.Socket; echo: (s: string) => Promise<string> }> {
  const socks = zA.addresses.socks5;
  assert.ok(socks);
  const { reply, socket } = await socksConnect(socks, mesh.ip(3), mesh.echoPort, mesh.ip(2));
  socket.on('error', () => {});
  const echo = (s: string) =>
    new Promise<string>((resolve, reject) => {
      let got = '';
      const onData = (d: Buffer) => {
        got += d.toString();
        if (got.length >= s.length) {
          socket.off('data', onData);
          resolve(got);
        }
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
      socket.write(s);
    });
  return { reply, socket, echo };
}

async function expectDenied(zA: Ztunnel, mesh: Mesh): Promise<void> {
  const { reply, socket } = await openEcho(zA, mesh);
  socket.destroy();
  assert.notEqual(reply, 0, 'a new connection is refused');
}

async function expectAllowed(zA: Ztunnel, mesh: Mesh, what: string): Promise<void> {
  const { reply, socket, echo } = await openEcho(zA, mesh);
  assert.equal(reply, 0, what);
  assert.equal(await echo('ping'), 'ping', what);
  socket.destroy();
}

function principals(zt: Ztunnel): string {
  return JSON.stringify(zt.state.policies.get(POLICY_KEY)?.rules ?? null);
}

test('mesh end to end: control plane → two ztunnels over delta xDS and the CA', async (t) => {
  const mesh = await writeMesh(t);
  const plane = await startPlane(t, mesh);
  const port = plane.addresses.grpcPort;
  const zA = await startZtunnel(t, plane, mesh, 'demo/client-0/client', 'node-a', mesh.ip(2), {
    cliToken: true,
  });
  const zB = await startZtunnel(t, plane, mesh, 'demo/server-0/server', 'node-b', mesh.ip(3));

  await t.test('both ztunnels got workloads, the service and the policy', () => {
    for (const zt of [zA, zB]) {
      const dump = zt.configDump() as {
        workloads: { name: string }[];
        services: { hostname: string }[];
        policies: { name: string }[];
        certificates: { identity: string; state: string }[];
      };
      assert.deepEqual(dump.workloads.map((w) => w.name).sort(), ['client-0', 'server-0']);
      assert.deepEqual(
        dump.services.map((s) => s.hostname),
        ['echo.demo.svc.cluster.local'],
      );
      assert.deepEqual(
        dump.policies.map((p) => p.name),
        ['allow-client'],
      );
    }
    const certA = (zA.configDump().certificates as { identity: string; state: string }[])[0];
    const certB = (zB.configDump().certificates as { identity: string; state: string }[])[0];
    assert.equal(certA?.identity, CLIENT);
    assert.equal(certB?.identity, SERVER);
    assert.equal(certB?.state, 'available');
  });

  await t.test('traffic flows over HBONE with both SPIFFE identities', async () => {
    const { reply, socket, echo } = await openEcho(zA, mesh);
    assert.equal(reply, 0);
    assert.equal(await echo('hello'), 'hello');
    const inbound = zB.connections.dump().find((c) => c.direction === 'inbound');
    assert.equal(inbound?.srcIdentity, CLIENT);
    socket.destroy();
    // Also through the service VIP (service port 80 → the app's port).
    const socks = zA.addresses.socks5;
    assert.ok(socks);
    const viaVip = await socksConnect(socks, mesh.ip(100), 80, mesh.ip(2));
    viaVip.socket.destroy();
    assert.equal(viaVip.reply, 0);
    const b = (await getText(zB.addresses.metrics, '/metrics')).body;
    const both = { source_principal: CLIENT, destination_principal: SERVER };
    assert.ok(
      metricValue(b, 'istio_tcp_connections_opened_total', { ...both, reporter: 'destination' }) >=
        1,
      b,
    );
    const a = (await getText(zA.addresses.metrics, '/metrics')).body;
    assert.ok(
      metricValue(a, 'istio_tcp_connections_opened_total', { ...both, reporter: 'source' }) >= 1,
    );
  });

  const policyFile = join(mesh.manifests, '30-policy.yaml');

  await t.test(
    'a policy edit closes the live connection; the reverse edit allows again',
    async () => {
      const { reply, socket, echo } = await openEcho(zA, mesh);
      assert.equal(reply, 0);
      assert.equal(await echo('before'), 'before');
      const closed = new Promise<void>((r) =>
        socket.closed ? r() : socket.once('close', () => r()),
      );
      const start = Date.now();
      await writeFile(policyFile, policy('cluster.local/ns/demo/sa/nobody'));
      await until('policy reached both ztunnels', () =>
        [zA, zB].every((z) => principals(z).includes('nobody')),
      );
      const reached = Date.now() - start;
      t.diagnostic(`policy edit reached both ztunnels in ${reached} ms`);
      // The issue's target (file watch quiet period 100 ms + debounce 20 ms + push).
      assert.ok(reached < 1000, `policy edit took ${reached} ms to reach both ztunnels`);
      await closed;
      t.diagnostic(`live connection closed ${Date.now() - start} ms after the edit`);
      await expectDenied(zA, mesh);

      await writeFile(policyFile, policy('cluster.local/ns/demo/sa/client'));
      await until('allow reached both ztunnels', () =>
        [zA, zB].every((z) => principals(z).includes('sa/client')),
      );
      await expectAllowed(zA, mesh, 'allowed again after the reverse edit');
    },
  );

  await t.test(
    'policy kinds: translated, accepted (no NACK) and enforced as Istio does',
    async () => {
      const cases: { what: string; spec: string; allowed: boolean }[] = [
        {
          what: 'ALLOW by namespace',
          spec: 'action: ALLOW\n  rules: [{ from: [{ source: { namespaces: [demo] } }] }]',
          allowed: true,
        },
        {
          what: 'ALLOW by destination port',
          spec: `action: ALLOW\n  rules: [{ to: [{ operation: { ports: ["${mesh.echoPort}"] } }] }]`,
          allowed: true,
        },
        {
          what: 'ALLOW by another port',
          spec: 'action: ALLOW\n  rules: [{ to: [{ operation: { ports: ["1"] } }] }]',
          allowed: false,
        },
        {
          what: 'ALLOW with an L7 field (fails closed in ztunnel)',
          spec: 'action: ALLOW\n  rules: [{ to: [{ operation: { methods: [GET] } }] }]',
          allowed: false,
        },
        {
          what: 'DENY by principal',
          spec: 'action: DENY\n  rules: [{ from: [{ source: { principals: [cluster.local/ns/demo/sa/client] } }] }]',
          allowed: false,
        },
        {
          what: 'DENY notPrincipals',
          spec: 'action: DENY\n  rules: [{ from: [{ source: { notPrincipals: [cluster.local/ns/demo/sa/client] } }] }]',
          allowed: true,
        },
      ];
      for (const c of cases) {
        const text = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-client, namespace: demo }
spec:
  selector: { matchLabels: { app: server } }
  ${c.spec}
`;
        const before = JSON.stringify(zB.state.policies.get(POLICY_KEY));
        await writeFile(policyFile, text);
        await until(
          `${c.what}: pushed`,
          () =>
            JSON.stringify(zB.state.policies.get(POLICY_KEY)) !== before ||
            plane.store.status().length > 0,
        );
        assert.deepEqual(plane.store.status(), [], c.what);
        await until(
          `${c.what}: reached both`,
          () =>
            JSON.stringify(zA.state.policies.get(POLICY_KEY)) ===
            JSON.stringify(zB.state.policies.get(POLICY_KEY)),
        );
        for (const z of [zA, zB]) {
          const src = z.configDump().configSource as {
            types: Record<string, { lastNack?: unknown }>;
          };
          for (const [ty, st] of Object.entries(src.types))
            assert.equal(st.lastNack, undefined, `${c.what}: ${ty} NACKed`);
        }
        if (c.allowed) await expectAllowed(zA, mesh, c.what);
        else await expectDenied(zA, mesh);
      }
      await writeFile(policyFile, policy('cluster.local/ns/demo/sa/client'));
      await until('allow restored', () => principals(zB).includes('sa/client'));
    },
  );

  await t.test(
    'a broken manifest is rejected by name; the rest stays and traffic works',
    async () => {
      const before = principals(zB);
      const live = await openEcho(zA, mesh);
      assert.equal(live.reply, 0);
      // A broken edit of the policy itself (its last good version stays) and a new broken file.
      await writeFile(
        policyFile,
        policy('cluster.local/ns/demo/sa/client').replace('ALLOW', 'PERMIT'),
      );
      await writeFile(
        join(mesh.manifests, '40-broken.yaml'),
        `apiVersion: v1
kind: Service
metadata: { name: broken, namespace: demo }
spec:
  selector: { app: server }
  ports: [{ port: 70000 }]
`,
      );
      await until('both rejections recorded', () => {
        const names = plane.store.status().map((s) => s.ref.name);
        return names.includes('allow-client') && names.includes('broken');
      });
      // Give a (wrong) push time to arrive before checking nothing changed.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(principals(zB), before);
      assert.equal(principals(zA), before);
      assert.equal(zB.state.services.size, 1);
      assert.equal(await live.echo('still'), 'still');
      live.socket.destroy();
      await expectAllowed(zA, mesh, 'new connection with a broken manifest present');
      // Repair for the next steps.
      await writeFile(policyFile, policy('cluster.local/ns/demo/sa/client'));
      await rm(join(mesh.manifests, '40-broken.yaml'));
      await until('rejections cleared', () => plane.store.status().length === 0);
    },
  );

  await t.test('deleting and re-adding a pod reaches both ztunnels; traffic resumes', async () => {
    const podsFile = join(mesh.manifests, '10-pods.yaml');
    const pods = await readFile(podsFile, 'utf8');
    await writeFile(podsFile, pod('client-0', 'client', 'client', 'node-a', mesh.ip(2)));
    await until('server-0 gone from both', () =>
      [zA, zB].every((z) => z.state.workloads.size === 1),
    );
    await writeFile(podsFile, pods);
    await until('server-0 back in both', () => [zA, zB].every((z) => z.state.workloads.size === 2));
    await until('zB ready again', () => zB.readiness.ready);
    await expectAllowed(zA, mesh, 'after the pod came back');
  });

  await t.test('control plane down: traffic keeps flowing; restart resyncs', async () => {
    const live = await openEcho(zA, mesh);
    assert.equal(live.reply, 0);
    await plane.destroy();
    await until('xDS disconnected', () =>
      [zA, zB].every(
        (z) => (z.configDump().configSource as { connected: boolean }).connected === false,
      ),
    );
    assert.equal(await live.echo('cp-down'), 'cp-down');
    await expectAllowed(zA, mesh, 'new connection while the control plane is down');
    assert.equal(zB.state.workloads.size, 2);

    // Config changes while it is down (a policy edit, a deleted file); the restarted plane
    // (same state dir: same CA and tokens; same port) must push exactly that to the
    // reconnecting ztunnels, which announce what they hold in initial_resource_versions.
    const servicesFile = join(mesh.manifests, '20-services.yaml');
    const services = await readFile(servicesFile, 'utf8');
    await writeFile(policyFile, policy('cluster.local/ns/demo/sa/nobody'));
    await rm(servicesFile);
    const second = await startPlane(t, mesh, port);
    await until(
      'ztunnels reconnected and resynced',
      () =>
        second.xds.connectionCount === 2 &&
        [zA, zB].every((z) => principals(z).includes('nobody') && z.state.services.size === 0),
      30_000,
    );
    await until('resync acknowledged', () =>
      second.xds
        .status()
        .connections.every((c) => Object.values(c.types).every((ty) => ty.state === 'ACKED')),
    );
    for (const c of second.xds.status().connections) {
      // Only the differences: server-0 (its services map changed) and the service removal;
      // the edited policy. Nothing the ztunnel already held.
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(c.types).map(([ty, st]) => [
            ty.split('.').pop(),
            st.lastSent && { resources: st.lastSent.resources, removed: st.lastSent.removed },
          ]),
        ),
        { Address: { resources: 1, removed: 1 }, Authorization: { resources: 1, removed: 0 } },
        c.nodeId,
      );
    }
    for (const z of [zA, zB]) {
      const src = z.configDump().configSource as { reconnects: number; connected: boolean };
      assert.equal(src.connected, true);
      assert.ok(src.reconnects >= 1);
    }
    await new Promise<void>((r) =>
      live.socket.closed ? r() : live.socket.once('close', () => r()),
    );
    await expectDenied(zA, mesh);
    await writeFile(policyFile, policy('cluster.local/ns/demo/sa/client'));
    await until('allow after restart', () =>
      [zA, zB].every((z) => principals(z).includes('sa/client')),
    );
    await expectAllowed(zA, mesh, 'allowed after restart');
    // Adding a file back reaches both ztunnels; the VIP works again.
    await writeFile(servicesFile, services);
    await until('service back', () => [zA, zB].every((z) => z.state.services.size === 1));
    const socks = zA.addresses.socks5;
    assert.ok(socks);
    const viaVip = await socksConnect(socks, mesh.ip(100), 80, mesh.ip(2));
    viaVip.socket.destroy();
    assert.equal(viaVip.reply, 0);
  });
});

test('mesh end to end: ztunnels started before the control plane has config catch up', async (t) => {
  const mesh = await writeMesh(t);
  const plane = await buildControlPlane(
    parseControlPlaneConfig(
      {},
      {
        manifests: mesh.manifests,
        stateDir: mesh.state,
        port: '0',
        listen: '127.0.0.1',
        monitoringPort: '0',
        debounce: '20ms',
      },
    ),
  );
  t.after(() => plane.destroy());
  // Not run yet: gRPC is up, no config. The ztunnels wait (xDS and CA answer UNAVAILABLE).
  const starting = Promise.all([
    startZtunnel(t, plane, mesh, 'demo/client-0/client', 'node-a', mesh.ip(2)),
    startZtunnel(t, plane, mesh, 'demo/server-0/server', 'node-b', mesh.ip(3)),
  ]);
  await new Promise((r) => setTimeout(r, 300));
  await plane.run();
  const [zA] = await starting;
  await expectAllowed(zA, mesh, 'after a late control plane');
});

test('mesh end to end: the example shop (waypoint, PeerAuthentication, targetRefs) is accepted by ztunnel', async (t) => {
  const dirs = await tempDirs(t);
  const plane = await startControlPlane(t, dirs);
  const mesh: Mesh = { ip: () => '', manifests: dirs.manifests, state: dirs.state, echoPort: 0 };
  const zt = await startZtunnel(
    t,
    plane,
    mesh,
    'shop/frontend-0/frontend',
    'node-a',
    `${prefix()}.2`,
  );
  const src = zt.configDump().configSource as {
    types: Record<string, { resources: number; lastNack?: { message: string } }>;
  };
  for (const [ty, st] of Object.entries(src.types)) {
    assert.equal(st.lastNack, undefined, `${ty} NACKed: ${st.lastNack?.message}`);
    assert.ok(st.resources > 0, ty);
  }
  // Everything the control plane has, nothing more (a NACKed resource would be missing).
  const cached = plane.xds.status().resources;
  const count = (suffix: string) =>
    Object.entries(cached).find(([typeUrl]) => typeUrl.endsWith(suffix))?.[1].count;
  assert.equal(zt.state.workloads.size + zt.state.services.size, count('.Address'));
  assert.equal(zt.state.policies.size, count('.Authorization'));
});
