// `ambit up` with the mesh, end to end on the bundled demo (examples/demo):
// one bring-up shared by every assertion (it is the slow part), through the
// CLI binary, with real namespaces, control plane, ztunnels and in-pod rules.
// Its own run root (AMBIT_RUN_DIR); `ambit down` always runs in t.after.
import assert from 'node:assert/strict';
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterState } from '../../src/local/index.js';
import { listNetns, processStartTime } from '../../src/platform/index.js';
import { skipUnlessRoot } from '../helpers/netns.js';

const BIN = new URL('../../bin/ambit.js', import.meta.url).pathname;

function runState(root: string): ClusterState {
  const runs = readdirSync(root).filter((n) => existsSync(join(root, n, 'cluster.json')));
  assert.equal(runs.length, 1, `runs under ${root}: ${runs.join(',')}`);
  return JSON.parse(
    readFileSync(join(root, runs[0] as string, 'cluster.json'), 'utf8'),
  ) as ClusterState;
}

test('ambit up with the mesh: demo behaviour, HBONE only on the wire, live enrollment, ztunnel crash, down after kill -9', async (t) => {
  if (skipUnlessRoot(t)) return;
  const root = mkdtempSync(join(tmpdir(), 'ambit-mesh-root-'));
  const env = { ...process.env, AMBIT_RUN_DIR: root };
  const ambit = (args: string[], timeout = 90_000): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout });
  t.after(() => {
    const r = ambit(['down']);
    rmSync(root, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
  });

  const started = Date.now();
  const up = ambit(['up', '--detach', '--ready-timeout', '90']);
  assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  for (const line of [
    'certificates:',
    'control plane: ready',
    'ztunnels: 2/2 ready',
    'enrollment:',
  ]) {
    assert.match(up.stdout, new RegExp(line), `progress line "${line}"`);
  }
  assert.match(up.stdout, /curl -s http:\/\/frontend\.shop\//, 'prints what to try next');
  t.diagnostic(`demo up in ${Date.now() - started} ms`);
  let st = runState(root);
  assert.equal(st.mesh?.controlPlane.ready, true);
  assert.deepEqual(
    st.mesh?.ztunnels.map((z) => [z.node, z.ready]),
    st.nodes.map((n) => [n.name, true]),
  );
  const shop = st.pods.filter((p) => p.namespace === 'shop');
  assert.ok(shop.every((p) => p.enrolled));
  assert.ok(st.pods.filter((p) => p.namespace === 'legacy').every((p) => !p.enrolled));

  // Straight `ip netns exec` into the pod (with its hosts file): `ambit exec`
  // itself is covered by up.test.ts, and a CLI start per request is slow.
  const curl = (ns: string, target: string, url: string) => {
    const dep = target.replace(/^deploy\//, '');
    const pod = runState(root).pods.find((p) => p.namespace === ns && p.deployment === dep);
    assert.ok(pod, `${ns}/${target}`);
    return spawnSync(
      'ip',
      [
        'netns',
        'exec',
        pod.netns,
        'curl',
        '-sS',
        '-m',
        '5',
        '-o',
        '-',
        '-w',
        '\\n%{http_code}',
        url,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
  };

  await t.test('loadgen → frontend → catalog works over the mesh (through ambit exec)', () => {
    const r = ambit([
      'exec',
      '-n',
      'shop',
      'deploy/loadgen',
      '--',
      'curl',
      '-sS',
      '-m',
      '5',
      '-w',
      '\\n%{http_code}',
      'http://frontend.shop/',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /200$/);
    assert.match(r.stdout, /catalog|version/);
  });

  await t.test('loadgen → catalog is refused (only frontend may call catalog)', () => {
    const r = curl('shop', 'deploy/loadgen', 'http://catalog.shop/items');
    assert.notEqual(r.status, 0, `expected a refusal, got ${r.stdout}`);
  });

  await t.test('legacy-client gets nothing from shop (STRICT)', () => {
    const r = curl('legacy', 'deploy/legacy-client', 'http://frontend.shop/');
    assert.notEqual(r.status, 0, `expected nothing, got ${r.stdout}`);
  });

  await t.test('a capture in a node netns shows pod-to-pod traffic only as TCP 15008', async () => {
    st = runState(root);
    const captures: { proc: ChildProcess; out: string[] }[] = st.nodes.map((n) => {
      const out: string[] = [];
      // -l: line buffered; tcp only (ARP etc. are not pod traffic).
      const proc = spawn('ip', [
        'netns',
        'exec',
        n.netns,
        'tcpdump',
        '-i',
        'any',
        '-nn',
        '-l',
        '-q',
        'tcp',
      ]);
      proc.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
      return { proc, out };
    });
    await sleep(1000);
    for (let i = 0; i < 3; i++) {
      const r = curl('shop', 'deploy/loadgen', 'http://frontend.shop/');
      assert.equal(r.status, 0, r.stderr);
    }
    await sleep(500);
    for (const c of captures) c.proc.kill('SIGINT');
    await Promise.all(captures.map((c) => new Promise((r) => c.proc.once('exit', r))));
    const lines = captures
      .flatMap((c) => c.out.join('').split('\n'))
      .filter((l) => l.includes(' IP '));
    const pod = lines.filter((l) => /10\.244\.\d+\.\d+\.\d+ > 10\.244\./.test(l));
    assert.ok(pod.length > 0, `no pod-to-pod packets captured:\n${lines.slice(0, 20).join('\n')}`);
    const plain = pod.filter((l) => !/\.15008[ :]/.test(l));
    assert.deepEqual(plain, [], 'pod-to-pod packets not on 15008');
    assert.ok(!pod.some((l) => /\.(8080|9000)[ :]/.test(l)), 'app ports visible on the wire');
  });

  await t.test('enrol and release a running pod without restarting it', () => {
    st = runState(root);
    const legacy = st.pods.find((p) => p.namespace === 'legacy');
    assert.ok(legacy);
    const pids = legacy.pids;
    let r = ambit(['label', 'namespace', 'legacy', 'istio.io/dataplane-mode=ambient']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /enrolled legacy\//);
    st = runState(root);
    const after = st.pods.find((p) => p.name === legacy.name);
    assert.equal(after?.enrolled, true);
    assert.deepEqual(after?.pids, pids, 'pod was restarted');
    assert.ok(st.mesh?.enrolled.includes(`legacy/${legacy.name}`));
    const tables = spawnSync('ip', ['netns', 'exec', legacy.netns, 'nft', 'list', 'tables'], {
      encoding: 'utf8',
    }).stdout;
    assert.match(tables, /inet ambit-nat/);
    assert.doesNotMatch(tables, /ambit-services/, 'VIP DNAT removed once enrolled');
    // Now in the mesh, with an identity: frontend (no policy) answers.
    const ok = curl('legacy', 'deploy/legacy-client', 'http://frontend.shop/');
    assert.equal(ok.status, 0, ok.stderr);

    r = ambit(['label', 'namespace', 'legacy', 'istio.io/dataplane-mode-']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /released legacy\//);
    st = runState(root);
    const back = st.pods.find((p) => p.name === legacy.name);
    assert.equal(back?.enrolled, false);
    assert.deepEqual(back?.pids, pids, 'pod was restarted');
    const denied = curl('legacy', 'deploy/legacy-client', 'http://frontend.shop/');
    assert.notEqual(denied.status, 0, 'released pod still reaches shop');
  });

  await t.test('a pod label none opts one pod out of an ambient namespace, live', () => {
    const before = runState(root).pods.find((p) => p.deployment === 'loadgen');
    assert.ok(before?.enrolled);
    let r = ambit(['label', 'pod', '-n', 'shop', 'deploy/loadgen', 'istio.io/dataplane-mode=none']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /released shop\/loadgen/);
    // Outside the mesh now: STRICT shop refuses it.
    const out = curl('shop', 'deploy/loadgen', 'http://frontend.shop/');
    assert.notEqual(out.status, 0, 'opted-out pod still reaches STRICT frontend');
    r = ambit(['label', 'pod', '-n', 'shop', 'deploy/loadgen', 'istio.io/dataplane-mode-']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /enrolled shop\/loadgen/);
    const after = runState(root).pods.find((p) => p.name === before.name);
    assert.deepEqual(after?.pids, before.pids, 'pod was restarted');
    const back = curl('shop', 'deploy/loadgen', 'http://frontend.shop/');
    assert.equal(back.status, 0, back.stderr);
  });

  await t.test(
    'ztunnel kill -9: restarted by the runner, pods keep their rules, traffic resumes',
    async () => {
      st = runState(root);
      const loadgen = st.pods.find((p) => p.deployment === 'loadgen');
      assert.ok(loadgen);
      const zt = st.mesh?.ztunnels.find((z) => z.node === loadgen.node);
      assert.ok(zt?.pid);
      process.kill(zt.pid, 'SIGKILL');
      // Fail closed while it is down: the rules stay in the pod.
      const tables = spawnSync('ip', ['netns', 'exec', loadgen.netns, 'nft', 'list', 'tables'], {
        encoding: 'utf8',
      }).stdout;
      assert.match(tables, /inet ambit-nat/);
      let r: SpawnSyncReturns<string> | undefined;
      const until = Date.now() + 30_000;
      for (;;) {
        await sleep(500);
        r = curl('shop', 'deploy/loadgen', 'http://frontend.shop/');
        if (r.status === 0 || Date.now() > until) break;
      }
      assert.equal(r.status, 0, `traffic did not resume: ${r.stderr}`);
      st = runState(root);
      const again = st.mesh?.ztunnels.find((z) => z.node === loadgen.node);
      assert.ok((again?.restarts ?? 0) >= 1);
      assert.notEqual(again?.pid, zt.pid);
    },
  );

  await t.test('ambit logs shows the mesh processes', () => {
    const r = ambit(['logs', '-n', 'istio-system', `ztunnel-${st.nodes[0]?.name}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 0);
  });

  await t.test('ambit down after kill -9 of the whole run leaves nothing', async () => {
    st = runState(root);
    const pids = [
      st.runner.pid,
      st.mesh?.controlPlane.pid,
      ...(st.mesh?.ztunnels.map((z) => z.pid) ?? []),
      ...st.pods.flatMap((p) => p.pids),
    ].filter((p): p is number => p !== undefined);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone (a child of a killed parent)
      }
    }
    await sleep(300);
    const r = ambit(['down']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(`ambit-${st.runId}-`)),
      [],
    );
    for (const pid of pids) assert.equal(processStartTime(pid), undefined, `pid ${pid} alive`);
    assert.deepEqual(readdirSync(root), [], 'run directory left behind');
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(links, new RegExp(`ambit-${st.runId}`));
    for (const p of st.pods) assert.equal(existsSync(`/etc/netns/${p.netns}`), false);
  });
});
