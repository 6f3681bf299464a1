// `ambit up` / `down` / `exec` / `logs` / `get` end to end: real namespaces,
// real processes, through the CLI binary. Each test uses its own run root
// (AMBIT_RUN_DIR) and always runs `ambit down` in t.after.
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterState } from '../../src/local/index.js';
import { listNetns, processStartTime } from '../../src/platform/index.js';
import { skipUnlessRoot } from '../helpers/netns.js';

const BIN = new URL('../../bin/ambit.js', import.meta.url).pathname;

const MANIFESTS = `
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
        command: [node, server.mjs]
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
  replicas: 1
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      nodeName: node-0
      containers:
      - name: client
        command: [sleep, "100000"]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: web}
spec:
  containers:
  - name: crasher
    command: [sh, -c, 'if [ -e crashed ]; then echo second-start; exec sleep 100000; fi; touch crashed; echo first-start; exit 3']
`;

const SERVER = `import http from 'node:http';
http.createServer((req, res) => res.end(\`hello from \${process.env.POD_NAME} at \${process.env.POD_IP}, you are \${req.socket.remoteAddress.replace("::ffff:", "")}\\n\`)).listen(8080);
`;

interface Env {
  root: string;
  dir: string;
  ambit(args: string[], opts?: { asNobody?: boolean }): SpawnSyncReturns<string>;
}

/** The environment for a child run as nobody: without coverage collection, which
 * would try (and fail, noisily) to write into root's coverage directory. Node
 * copies NODE_V8_COVERAGE into every child's env unless the key is present, so
 * it is set to empty (off) rather than removed. */
function nobodyEnv(root: string): NodeJS.ProcessEnv {
  return { ...process.env, NODE_V8_COVERAGE: '', AMBIT_RUN_DIR: root };
}

function setup(t: TestContext, manifests = MANIFESTS): Env {
  const root = mkdtempSync(join(tmpdir(), 'ambit-up-root-'));
  const dir = mkdtempSync(join(tmpdir(), 'ambit-up-app-'));
  writeFileSync(join(dir, 'app.yaml'), manifests);
  writeFileSync(join(dir, 'server.mjs'), SERVER);
  const ambit = (args: string[], opts: { asNobody?: boolean } = {}) => {
    const argv = opts.asNobody
      ? [
          'setpriv',
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          process.execPath,
          BIN,
          ...args,
        ]
      : [process.execPath, BIN, ...args];
    return spawnSync(argv[0] as string, argv.slice(1), {
      encoding: 'utf8',
      env: opts.asNobody ? nobodyEnv(root) : { ...process.env, AMBIT_RUN_DIR: root },
      timeout: 90_000,
    });
  };
  t.after(() => {
    const r = ambit(['down']);
    rmSync(dir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
  });
  return { root, dir, ambit };
}

function runState(root: string): ClusterState {
  const runs = readdirSync(root).filter((n) => existsSync(join(root, n, 'cluster.json')));
  assert.equal(runs.length, 1, `runs under ${root}: ${runs.join(',')}`);
  return JSON.parse(
    readFileSync(join(root, runs[0] as string, 'cluster.json'), 'utf8'),
  ) as ClusterState;
}

function assertGone(st: ClusterState, root: string): void {
  const left = listNetns().filter((n) => n.startsWith(`ambit-${st.runId}-`));
  assert.deepEqual(left, [], 'namespaces left behind');
  for (const p of st.pods) {
    assert.equal(existsSync(`/etc/netns/${p.netns}`), false, `hosts dir of ${p.netns} left behind`);
    for (const pid of p.pids)
      assert.equal(processStartTime(pid), undefined, `pod process ${pid} still alive`);
  }
  assert.equal(processStartTime(st.runner.pid), undefined, 'runner still alive');
  assert.deepEqual(readdirSync(root), [], 'run directory left behind');
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(links, new RegExp(`ambit-${st.runId}`), 'host link left behind');
}

test('ambit up: pods get IPs, run, reach a service VIP across nodes; crash restarts keep logs; down removes everything', async (t) => {
  if (skipUnlessRoot(t)) return;
  const env = setup(t);
  const up = env.ambit(['up', env.dir, '--detach', '--no-mesh']);
  assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, /readiness: 3\/3 pods ready/);

  const get = env.ambit(['get', 'pods', '-n', 'web', '-o', 'json']);
  assert.equal(get.status, 0, get.stderr);
  const pods = (
    JSON.parse(get.stdout) as {
      items: {
        metadata: { name: string };
        spec: { nodeName: string };
        status: { podIP: string; phase: string };
        ambit: { netns: string; pids: number[] };
      }[];
    }
  ).items;
  const server = pods.find((p) => p.metadata.name.startsWith('server-'));
  const client = pods.find((p) => p.metadata.name.startsWith('client-'));
  assert.ok(server && client);
  assert.equal(server.spec.nodeName, 'node-1');
  assert.equal(client.spec.nodeName, 'node-0');
  assert.match(server.status.podIP, /^10\.244\.1\.\d+$/);
  assert.match(client.status.podIP, /^10\.244\.0\.\d+$/);
  for (const p of pods) {
    assert.equal(p.status.phase, 'Running');
    assert.ok(listNetns().includes(p.ambit.netns), `${p.ambit.netns} exists`);
    assert.ok(p.ambit.pids.every((pid) => processStartTime(pid) !== undefined));
  }
  const nodes = JSON.parse(env.ambit(['get', 'nodes', '-o', 'json']).stdout) as {
    items: { ambit: { netns: string } }[];
  };
  assert.equal(nodes.items.length, 2);
  for (const n of nodes.items) assert.ok(listNetns().includes(n.ambit.netns));

  // Across nodes through the VIP, by every DNS-style name; the client's IP is preserved.
  for (const host of ['server', 'server.web', 'server.web.svc.cluster.local']) {
    const curl = env.ambit([
      'exec',
      '-n',
      'web',
      'deploy/client',
      '--',
      'curl',
      '-sS',
      '-m',
      '5',
      `http://${host}/`,
    ]);
    assert.equal(curl.status, 0, curl.stderr);
    assert.equal(
      curl.stdout,
      `hello from ${server.metadata.name} at ${server.status.podIP}, you are ${client.status.podIP}\n`,
    );
  }
  // Exit codes pass through.
  assert.equal(
    env.ambit(['exec', '-n', 'web', 'deploy/client', '--', 'sh', '-c', 'exit 7']).status,
    7,
  );

  // The crasher exited once and was restarted; both runs' output is in its log.
  let st = runState(env.root);
  for (let i = 0; i < 100 && (st.pods.find((p) => p.name === 'crasher')?.restarts ?? 0) < 1; i++) {
    await sleep(100);
    st = runState(env.root);
  }
  assert.equal(st.pods.find((p) => p.name === 'crasher')?.restarts, 1);
  const logs = env.ambit(['logs', '-n', 'web', 'crasher']);
  assert.match(logs.stdout, /first-start[\s\S]*exit code 3; restarting[\s\S]*second-start/);

  const down = env.ambit(['down']);
  assert.equal(down.status, 0, down.stderr);
  assertGone(st, env.root);
  const again = env.ambit(['down']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /nothing to do/);
});

test('ambit down after kill -9 of the runner leaves nothing behind', async (t) => {
  if (skipUnlessRoot(t)) return;
  const env = setup(t);
  const up = env.ambit(['up', env.dir, '--detach', '--nodes', '2', '--no-mesh']);
  assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  const st = runState(env.root);
  process.kill(st.runner.pid, 'SIGKILL');
  for (let i = 0; i < 100 && processStartTime(st.runner.pid) !== undefined; i++) await sleep(20);
  // Pods outlive their runner until `down`.
  assert.ok(st.pods.some((p) => p.pids.some((pid) => processStartTime(pid) !== undefined)));
  const down = env.ambit(['down']);
  assert.equal(down.status, 0, down.stderr);
  assertGone(st, env.root);
});

test('ambit up: manifests with errors fail before anything is created', (t) => {
  if (skipUnlessRoot(t)) return;
  const broken = `${MANIFESTS}---
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken, namespace: web}
spec:
  selector: {matchLabels: {app: broken}}
  template:
    metadata: {labels: {app: broken}}
    spec:
      containers: [{name: main, image: nginx}]
`;
  const env = setup(t, broken);
  const before = listNetns();
  const up = env.ambit(['up', env.dir]);
  assert.equal(up.status, 1);
  assert.match(up.stderr, /AMBIT_LOCAL_MANIFEST_INVALID/);
  assert.match(up.stderr, /Deployment web\/broken: container main has no command/);
  // Other suites start and stop their own clusters concurrently, so compare
  // only what this manifest set would have made: a pod netns of namespace
  // `web`. Fabric and node namespaces go through the ledger in env.root first,
  // so an empty root shows none of those was created either.
  const created = listNetns().filter((n) => !before.includes(n));
  assert.deepEqual(
    created.filter((n) => n.includes('-web.')),
    [],
  );
  assert.deepEqual(readdirSync(env.root), []);
});

test('ambit up as a non-root user: one clear message, exit 1', (t) => {
  if (skipUnlessRoot(t)) return;
  const env = setup(t);
  const up = env.ambit(['up', env.dir], { asNobody: true });
  assert.equal(up.status, 1, up.stdout);
  assert.equal(up.stderr.trim().split('\n').length, 1, up.stderr);
  assert.match(up.stderr, /^error: \[AMBIT_NOT_ROOT\] ambit up needs root/);
});
