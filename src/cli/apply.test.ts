// `ambit apply -f` in-process against a recorded run (cluster.json whose
// runner is this test process): validation names every bad resource and
// stores nothing; valid documents are stored as applied files with kubectl's
// created/configured/unchanged; a live runner (simulated with watchApplied)
// confirms through cluster.json.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AmbitError } from '../core/errors.js';
import { parseManifestText } from '../kube/index.js';
import {
  appliedFiles,
  type ClusterState,
  effectiveManifests,
  planCluster,
  readState,
  seqOf,
  watchApplied,
} from '../local/index.js';
import { writeState } from '../local/state.js';
import { processStartTime } from '../platform/index.js';
import { buildProgram } from './index.js';

const BASE = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: main, command: [sleep, infinity]}]
`;
const POLICY = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  action: ALLOW
  rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/web"]}}]}]
`;
function deploy(name: string, replicas: number, extra = ''): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: shop}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      ${extra}
      containers: [{name: main, command: [sleep, infinity]}]
`;
}

async function apply(args: string[]): Promise<{ out: string; err?: AmbitError }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  // Only the command's text; the test runner's own (binary) reports pass through.
  process.stdout.write = ((s: string | Uint8Array, ...rest: never[]) => {
    if (typeof s !== 'string') return write(s, ...rest);
    out += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array, ...rest: never[]) => {
    if (typeof s !== 'string') return errWrite(s, ...rest);
    out += s;
    return true;
  }) as typeof process.stderr.write;
  try {
    await buildProgram()
      .exitOverride()
      .parseAsync(['node', 'ambit', 'apply', ...args]);
    return { out };
  } catch (err) {
    if (err instanceof AmbitError) return { out, err };
    throw err;
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
}

test('ambit apply: validate everything, store atomically, kubectl-style results', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ambit-apply-'));
  const manifestDir = join(root, 'manifests');
  mkdirSync(manifestDir);
  writeFileSync(join(manifestDir, 'base.yaml'), BASE);
  const runDir = join(root, 'run', 'r1');
  mkdirSync(runDir, { recursive: true });
  const prevEnv = process.env.AMBIT_RUN_DIR;
  process.env.AMBIT_RUN_DIR = join(root, 'run');
  t.after(() => {
    if (prevEnv === undefined) delete process.env.AMBIT_RUN_DIR;
    else process.env.AMBIT_RUN_DIR = prevEnv;
    rmSync(root, { recursive: true, force: true });
  });
  const plan = planCluster(parseManifestText(BASE, 'base.yaml'), {
    runId: 'r1',
    dir: manifestDir,
    nodes: 2,
  });
  const state: ClusterState = {
    version: 1,
    runId: 'r1',
    status: 'ready',
    runner: { pid: process.pid, startTime: processStartTime(process.pid) ?? '' },
    dir: manifestDir,
    runDir,
    createdAt: new Date().toISOString(),
    fabricNetns: plan.fabricNetns,
    nodes: plan.nodes,
    pods: plan.pods.map((p) => ({ ...p, ready: true, restarts: 0, phase: 'Running', pids: [] })),
    services: plan.services,
    namespaces: plan.namespaces,
  };
  writeState(runDir, state);
  const file = (name: string, text: string) => {
    const p = join(root, name);
    writeFileSync(p, text);
    return p;
  };

  await t.test('one invalid document: every problem named, nothing stored', async () => {
    const bad = file(
      'bad.yaml',
      [
        POLICY,
        deploy('broken', -1),
        'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 99999}]}',
      ].join('\n---\n'),
    );
    const r = await apply(['-f', bad]);
    assert.equal(r.err?.code, 'AMBIT_LOCAL_MANIFEST_INVALID');
    assert.match(r.err?.message ?? '', /nothing was applied/);
    assert.match(r.err?.message ?? '', /Deployment shop\/broken: /);
    assert.match(r.err?.message ?? '', /Service default\/s: /);
    assert.deepEqual(appliedFiles(runDir), []);
  });

  await t.test(
    'valid documents the cluster cannot run (unknown node) are refused too',
    async () => {
      const r = await apply(['-f', file('pinned.yaml', deploy('pinned', 1, 'nodeName: node-7'))]);
      assert.equal(r.err?.code, 'AMBIT_LOCAL_MANIFEST_INVALID');
      assert.match(
        r.err?.message ?? '',
        /Deployment shop\/pinned: spec.nodeName node-7 is not a node/,
      );
      assert.deepEqual(appliedFiles(runDir), []);
    },
  );

  await t.test('created, then unchanged, then configured (runner not applying live)', async () => {
    const f = file('new.yaml', [POLICY, deploy('api', 1)].join('\n---\n'));
    const a = await apply(['-f', f]);
    assert.equal(a.err, undefined, a.out);
    assert.match(
      a.out,
      /^authorizationpolicy\.security\.istio\.io\/allow-web created\ndeployment\.apps\/api created\n/,
    );
    assert.match(a.out, /does not apply changes live yet/);
    assert.equal(appliedFiles(runDir).length, 2);
    const stored = readFileSync(appliedFiles(runDir)[0] ?? '', 'utf8');
    assert.match(stored, /kind: AuthorizationPolicy/);

    const b = await apply(['-f', f]);
    assert.match(b.out, /allow-web unchanged\ndeployment\.apps\/api unchanged\n/);
    assert.equal(appliedFiles(runDir).length, 2);

    // A changed base object (from the manifest dir) is "configured".
    const c = await apply(['-f', file('scale.yaml', BASE.replace('replicas: 1', 'replicas: 3'))]);
    assert.match(c.out, /^namespace\/shop unchanged\ndeployment\.apps\/web configured\n/);
    const eff = effectiveManifests(manifestDir, runDir);
    const web = eff.objects.find(
      (o) =>
        o.object.kind === 'Deployment' && (o.object.metadata as { name: string }).name === 'web',
    );
    assert.equal((web?.object.spec as { replicas?: number } | undefined)?.replicas, 3);
    assert.deepEqual(
      readdirSync(join(runDir, 'applied')).filter((n) => n.endsWith('.tmp')),
      [],
      'no temp files left',
    );
  });

  await t.test(
    'a live runner confirms through cluster.json; its error fails the command',
    async () => {
      writeState(runDir, { ...state, applied: { seq: 0 } });
      let fail: string | undefined;
      const w = watchApplied(
        runDir,
        () => {
          const seq = Math.max(...appliedFiles(runDir).map(seqOf));
          const st = readState(runDir);
          assert.ok(st);
          writeState(runDir, { ...st, applied: { seq, error: fail } });
        },
        20,
      );
      t.after(() => w.close());
      const ok = await apply(['-f', file('more.yaml', deploy('extra', 1)), '--wait', '10']);
      assert.equal(ok.err, undefined, ok.out);
      assert.equal(ok.out, 'deployment.apps/extra created\n');
      fail = 'netns ambit-x exists';
      const bad = await apply(['-f', file('more2.yaml', deploy('extra', 2)), '--wait', '10']);
      assert.equal(bad.err?.code, 'AMBIT_LOCAL_APPLY_FAILED');
      assert.match(bad.err?.message ?? '', /netns ambit-x exists/);
    },
  );
});
