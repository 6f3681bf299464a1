// `ambit get workloads|policies|certificates|connections` against a real
// ztunnel: `ambit ztunnel` (dedicated mode, local config) runs inside a
// network namespace with its admin port on 127.0.0.1:15000 of that netns only;
// the views read it through the netns. A second "node" netns has no ztunnel
// and must produce exactly one warning while the first still prints.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CertificateAuthority } from '../../src/controlplane/ca/index.js';
import { fetchNodeDumps, workloadsView } from '../../src/local/index.js';
import { execIn, nativeAvailable, processStartTime, spawnIn } from '../../src/platform/index.js';
import { netnsFixture, skipUnlessRoot } from '../helpers/netns.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const IP = '10.79.0.1';

function ambit(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin/ambit.js'), ...args],
      { env: { ...process.env, ...env, NODE_V8_COVERAGE: '' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('ztunnel-config views read a ztunnel through its node netns', async (t) => {
  if (skipUnlessRoot(t)) return;
  if (!nativeAvailable()) {
    t.skip('native addon not built: cannot make a socket inside a netns');
    return;
  }
  const procs: { child: ChildProcess; exited: Promise<unknown>; log: () => string }[] = [];
  t.after(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      await p.exited;
    }
  });
  const fx = netnsFixture(t);
  const n0 = await fx.netns('c0');
  const n1 = await fx.netns('c1');
  await execIn(n0, 'ip', ['addr', 'add', `${IP}/32`, 'dev', 'lo']);
  const dir = mkdtempSync(join(tmpdir(), 'ambit-ztcfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  CertificateAuthority.init(join(dir, 'ca'));
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `
workloads:
- {name: web-0, namespace: shop, serviceAccount: web, workloadIps: ["${IP}"], protocol: HBONE, node: node-0}
- {name: db-0, namespace: shop, serviceAccount: db, workloadIps: ["10.79.0.2"], protocol: HBONE, node: node-1}
policies:
- {name: allow-web, namespace: shop, scope: Namespace, action: Allow, rules: [[[{principals: [{exact: "cluster.local/ns/shop/sa/web"}]}]]]}
`,
  );
  const child = spawnIn(
    fx.ledger,
    n0,
    process.execPath,
    [
      join(ROOT, 'bin/ambit.js'),
      'ztunnel',
      '--mode',
      'dedicated',
      '--workload',
      'shop/web-0/web',
      '--local-config',
      join(dir, 'mesh.yaml'),
      '--ca-dir',
      join(dir, 'ca'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_V8_COVERAGE: '' } },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  procs.push({ child, exited: once(child, 'exit'), log: () => stderr });

  const nodes = [
    { name: 'node-0', netns: n0 },
    { name: 'node-1', netns: n1 },
  ];
  // Until the ztunnel has its certificate (the dump lists it as available).
  // Starting `ambit ztunnel` takes seconds on a loaded 2-core CI box.
  let dumps = await fetchNodeDumps(nodes, { timeoutMs: 1000 });
  for (
    const until = Date.now() + 90_000;
    Date.now() < until && dumps[0]?.dump?.certificates?.[0]?.state !== 'available';
  ) {
    await new Promise((r) => setTimeout(r, 200));
    dumps = await fetchNodeDumps(nodes, { timeoutMs: 1000 });
  }
  assert.ok(dumps[0]?.dump, `node-0 answered (${dumps[0]?.error}); ztunnel log:\n${stderr}`);
  assert.match(dumps[1]?.error ?? '', /ECONNREFUSED/);
  assert.deepEqual(
    workloadsView(dumps).rows.map((r) => [r[0], r[1], r[2], r[3]]),
    [
      ['shop', 'db-0', '10.79.0.2', 'node-1'],
      ['shop', 'web-0', IP, 'node-0'],
    ],
  );
  // The admin port is not reachable from the host netns.
  const host = await fetchNodeDumps([{ name: 'host', netns: '/proc/self/ns/net' }], {
    timeoutMs: 500,
  });
  assert.ok(host[0]?.error, 'the admin port exists only inside the node netns');

  // The CLI, against a recorded run whose nodes are these two namespaces.
  const runRoot = join(dir, 'run');
  mkdirSync(join(runRoot, 'r1'), { recursive: true });
  writeFileSync(
    join(runRoot, 'r1', 'cluster.json'),
    JSON.stringify({
      version: 1,
      runId: 'r1',
      status: 'ready',
      runner: { pid: process.pid, startTime: processStartTime(process.pid) },
      dir,
      runDir: join(runRoot, 'r1'),
      createdAt: new Date().toISOString(),
      fabricNetns: 'none',
      nodes: nodes.map((n, i) => ({ ...n, index: i })),
      pods: [],
      services: [],
      namespaces: [],
    }),
  );
  const env = { AMBIT_RUN_DIR: runRoot };
  const w = await ambit(['get', 'workloads'], env);
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stdout, /^NAMESPACE\s+POD-NAME\s+ADDRESS\s+NODE\s+WAYPOINT\s+PROTOCOL\n/);
  assert.match(
    w.stdout,
    new RegExp(`shop\\s+web-0\\s+${IP.replaceAll('.', '\\.')}\\s+node-0\\s+None\\s+HBONE`),
  );
  const warnings = w.stderr.split('\n').filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 1, w.stderr);
  assert.match(warnings[0] ?? '', /node-1.*did not answer/);

  const c = await ambit(['get', 'certificates', '-o', 'json'], env);
  assert.equal(c.code, 0, c.stderr);
  const items = (JSON.parse(c.stdout) as { items: { name: string; status: string }[] }).items;
  assert.deepEqual(
    items.map((i) => [i.name, i.status]),
    [['spiffe://cluster.local/ns/shop/sa/web', 'Available']],
  );
  assert.doesNotMatch(c.stdout, /PRIVATE KEY/);
  const p = await ambit(['get', 'policies', '-n', 'shop'], env);
  assert.match(p.stdout, /shop\s+allow-web\s+Allow\s+Namespace/);

  // No node answers at all: one clear error, non-zero exit.
  child.kill('SIGTERM');
  await procs[0]?.exited;
  const none = await ambit(['get', 'connections'], env);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /AMBIT_LOCAL_ZTUNNEL_UNREACHABLE/);
});
