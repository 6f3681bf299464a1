// A running local cluster changed at runtime (what `ambit apply` drives):
// build two nodes with a server pod, scale a client Deployment 0 → 1 → 0
// through reconcile + applyChanges. The added pod gets a fresh IP, its
// processes run, it reaches the server pod across nodes and the service VIP
// name is in its hosts file; removing it leaves nothing of it in the ledger,
// /run/netns or /etc/netns.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseManifestText } from '../../src/kube/index.js';
import {
  applyChanges,
  buildCluster,
  ETC_NETNS,
  effectiveManifests,
  planCluster,
  reconcile,
  removePodEtc,
  Supervisor,
  startLiveApply,
  storeApplied,
} from '../../src/local/index.js';
import { connectFrom, nativeAvailable, netnsExists } from '../../src/platform/index.js';
import { netnsFixture, skipUnlessRoot } from '../helpers/netns.js';

function manifests(clientReplicas: number): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: web}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: server, namespace: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      nodeName: node-1
      containers:
      - name: server
        command: ["${process.execPath}", server.mjs]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: server, namespace: web}
spec:
  selector: {app: server}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: web}
spec:
  replicas: ${clientReplicas}
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
      - name: client
        command: [sleep, "100000"]
`;
}

test('add a pod to a running cluster and remove it again', async (t) => {
  if (skipUnlessRoot(t)) return;
  if (!nativeAvailable()) {
    t.skip('native addon not built: cannot dial from inside a pod netns');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ambit-live-'));
  writeFileSync(
    join(dir, 'server.mjs'),
    "import net from 'node:net'; net.createServer((s) => s.end(`hello ${s.remoteAddress} from ${process.env.POD_NAME}`)).listen(8080);",
  );
  let supervisor: Supervisor | undefined;
  // Registered before the fixture: processes stop before their namespaces go.
  t.after(async () => {
    await supervisor?.stop(1000);
  });
  const fx = netnsFixture(t);
  t.after(() => {
    removePodEtc(fx.ledger.entries);
    rmSync(dir, { recursive: true, force: true });
  });
  const runId = fx.name('lv').replace(/^ambit-/, '');
  const v0 = parseManifestText(manifests(0), 'm.yaml');
  let plan = planCluster(v0, { runId, dir, nodes: 2 });
  assert.equal(plan.pods.length, 1);
  await buildCluster(fx.ledger, plan, () => {});
  supervisor = new Supervisor(fx.ledger, plan.pods, join(dir, 'logs'));
  supervisor.start();
  const server = plan.pods[0];
  assert.ok(server);
  const live = { ledger: fx.ledger, supervisor, meshActive: false };

  // Scale client 0 → 1.
  const v1 = parseManifestText(manifests(1), 'm.yaml');
  const up = reconcile({ current: plan, previous: v0, next: v1 });
  assert.equal(up.addPods.length, 1);
  assert.deepEqual(up.removePods, []);
  const lines: string[] = [];
  plan = await applyChanges(live, up, (l) => lines.push(l));
  const client = up.addPods[0];
  assert.ok(client);
  assert.equal(client.node, 'node-0', 'least-loaded node');
  assert.notEqual(client.ip, server.ip);
  assert.match(lines.join('\n'), new RegExp(`pod web/${client.name} created on node-0`));
  assert.ok(netnsExists(client.netns));
  assert.match(
    readFileSync(join(ETC_NETNS, client.netns, 'hosts'), 'utf8'),
    new RegExp(`${plan.services[0]?.vip.replaceAll('.', '\\.')}\\tserver server\\.web`),
  );
  // Its process runs, and it reaches the server pod on the other node.
  for (let i = 0; i < 100 && !supervisor.status(client).ready; i++) await sleep(50);
  assert.ok(supervisor.status(client).ready, 'client process runs');
  for (let i = 0; i < 100 && !supervisor.status(server).ready; i++) await sleep(100);
  const s = connectFrom({ netns: client.netns, host: server.ip, port: 8080 });
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  await once(s, 'close');
  // The server saw the new pod's own address.
  assert.equal(Buffer.concat(chunks).toString(), `hello ::ffff:${client.ip} from ${server.name}`);

  // Scale back to 0: the pod and everything recorded for it go.
  const pids = supervisor.status(client).containers.map((c) => c.pid);
  const down = reconcile({ current: plan, previous: v1, next: v0 });
  assert.deepEqual(
    down.removePods.map((p) => p.name),
    [client.name],
  );
  plan = await applyChanges(live, down);
  assert.equal(plan.pods.length, 1);
  assert.ok(!netnsExists(client.netns), 'netns removed');
  assert.ok(!existsSync(join(ETC_NETNS, client.netns)), '/etc/netns override removed');
  const left = fx.ledger.entries.filter(
    (e) => JSON.stringify(e).includes(client.netns) || (e.kind === 'pid' && pids.includes(e.pid)),
  );
  assert.deepEqual(left, [], 'nothing of the pod left in the ledger');
  for (const pid of pids) {
    assert.ok(pid !== undefined);
    assert.throws(() => process.kill(pid, 0), 'process gone');
  }
  // The server pod is untouched.
  assert.ok(netnsExists(server.netns));
  assert.ok(supervisor.status(server).ready);
});

test('live apply: a stored manifest reaches the running cluster through the watcher', async (t) => {
  if (skipUnlessRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'ambit-liveapply-'));
  writeFileSync(
    join(dir, 'server.mjs'),
    "import net from 'node:net'; net.createServer((s) => s.end('hi')).listen(8080);",
  );
  writeFileSync(join(dir, 'm.yaml'), manifests(0));
  const runDir = join(dir, 'run');
  let supervisor: Supervisor | undefined;
  let close = () => {};
  t.after(async () => {
    close();
    await supervisor?.stop(1000);
  });
  const fx = netnsFixture(t);
  t.after(() => {
    removePodEtc(fx.ledger.entries);
    rmSync(dir, { recursive: true, force: true });
  });
  const runId = fx.name('la').replace(/^ambit-/, '');
  const manifestsV0 = effectiveManifests(dir, runDir);
  let plan = planCluster(manifestsV0, { runId, dir, nodes: 2 });
  await buildCluster(fx.ledger, plan, () => {});
  supervisor = new Supervisor(fx.ledger, plan.pods, join(dir, 'logs'));
  supervisor.start();
  let published = 0;
  const applier = startLiveApply({
    runDir,
    manifestDir: dir,
    manifests: manifestsV0,
    plan: () => plan,
    setPlan: (p) => {
      plan = p;
    },
    live: { ledger: fx.ledger, supervisor, meshActive: false },
    onApplied: () => published++,
  });
  close = () => applier.close();

  const doc = parseManifestText(manifests(2), 'apply.yaml').objects.filter(
    (o) => (o.object.metadata as { name: string }).name === 'client',
  );
  const results = storeApplied(runDir, manifestsV0, doc);
  assert.deepEqual(
    results.map((r) => `${r.ref} ${r.action}`),
    ['deployment.apps/client configured'],
  );
  for (let i = 0; i < 100 && applier.status().seq < 1; i++) await sleep(50);
  await applier.idle();
  assert.deepEqual(applier.status(), { seq: 1 });
  assert.ok(published >= 1);
  const clients = plan.pods.filter((p) => p.deployment === 'client');
  assert.equal(clients.length, 2);
  assert.deepEqual(
    clients.map((p) => p.node).sort(),
    ['node-0', 'node-0'],
    'least-loaded: node-1 has the server',
  );
  for (const c of clients) assert.ok(netnsExists(c.netns), c.netns);
});
