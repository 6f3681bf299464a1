// How `ambit label` overrides compose with `ambit apply` (one reconcile path,
// apply wins for the keys it lists, label survives for the others), and the
// run lock that makes concurrent label/apply commands safe.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseManifestText, readManifests } from '../kube/index.js';
import {
  dropAppliedKeys,
  emptyOverrides,
  LABELS_LOCK,
  readOverrides,
  updateOverrides,
  withOverrides,
  withRunLock,
  withServiceLabels,
} from './labels.js';
import { overlayManifests, reconcile } from './reconcile.js';
import { planCluster } from './topology.js';

const DEMO = new URL('../../examples/demo', import.meta.url).pathname;
const LABELS_TS = new URL('./labels.ts', import.meta.url).pathname;

describe('label overrides and applied manifests compose', () => {
  const base = readManifests([DEMO]);
  const plan = planCluster(base, { runId: 'abc123', dir: DEMO, nodes: 2 });
  const legacy = emptyOverrides();
  legacy.namespaces.legacy = { 'istio.io/dataplane-mode': 'ambient' };
  legacy.generation = 1;

  test('a label override enrols through reconcile, without restarting the pod', () => {
    const c = reconcile({ current: plan, previous: base, next: base, labels: legacy });
    assert.deepEqual(c.addPods, []);
    assert.deepEqual(c.removePods, []);
    assert.deepEqual(
      c.enrollment.map((e) => [e.pod.namespace, e.enrolled]),
      [['legacy', true]],
    );
    assert.equal(c.namespaces[0]?.labels['istio.io/dataplane-mode'], 'ambient');
  });

  test('an applied Namespace keeps label keys it does not list, and sets those it does', () => {
    const live = withOverrides(plan, legacy);
    const doc = parseManifestText(
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy, labels: {team: payments}}\n',
      'ns.yaml',
    );
    const next = overlayManifests(base, doc);
    const o = structuredClone(legacy);
    assert.equal(dropAppliedKeys(o, doc.objects), false, 'team is not overridden');
    const c = reconcile({ current: live, previous: base, next, labels: o });
    assert.deepEqual(c.enrollment, [], 'the label set by ambit label survives the apply');
    assert.deepEqual(c.namespaces[0]?.labels, {
      team: 'payments',
      'istio.io/dataplane-mode': 'ambient',
    });

    // An apply that names the key wins (kubectl apply semantics).
    const out = parseManifestText(
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy, labels: {istio.io/dataplane-mode: none}}\n',
      'ns.yaml',
    );
    const o2 = structuredClone(legacy);
    assert.equal(dropAppliedKeys(o2, out.objects), true);
    assert.deepEqual(o2.namespaces, {});
    const c2 = reconcile({
      current: live,
      previous: base,
      next: overlayManifests(base, out),
      labels: o2,
    });
    assert.deepEqual(
      c2.enrollment.map((e) => [e.pod.namespace, e.enrolled]),
      [['legacy', false]],
    );
  });

  test('a Service label override reaches the control plane as a changed Service; an apply naming the key wins', () => {
    const o = emptyOverrides();
    o.services = { 'shop/frontend': { 'istio.io/use-waypoint': 'waypoint', team: 'web' } };
    const next = withServiceLabels(base, o);
    const frontend = next.objects.find(
      (r) =>
        r.object.kind === 'Service' &&
        (r.object.metadata as { name?: string } | undefined)?.name === 'frontend',
    );
    const labels = (frontend?.object.metadata as { labels?: Record<string, string> } | undefined)
      ?.labels;
    assert.equal(labels?.['istio.io/use-waypoint'], 'waypoint');
    const c = reconcile({ current: plan, previous: base, next, labels: o });
    assert.deepEqual(c.config, [{ key: 'Service/shop/frontend', change: 'configured' }]);
    assert.deepEqual([c.addPods, c.removePods, c.enrollment], [[], [], []]);
    // The manifests themselves are untouched.
    assert.notEqual(next.objects, base.objects);
    assert.equal(withServiceLabels(base, emptyOverrides()), base);

    const doc = parseManifestText(
      'apiVersion: v1\nkind: Service\nmetadata: {name: frontend, namespace: shop, labels: {istio.io/use-waypoint: none}}\nspec: {ports: [{port: 80}]}\n',
      'svc.yaml',
    );
    assert.equal(dropAppliedKeys(o, doc.objects), true);
    assert.deepEqual(o.services, { 'shop/frontend': { team: 'web' } });
  });

  test('with the old overrides (the moment between storing and dropping) nothing flaps', () => {
    const live = withOverrides(plan, legacy);
    const doc = parseManifestText(
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy, labels: {istio.io/dataplane-mode: ambient}}\n',
      'ns.yaml',
    );
    const c = reconcile({
      current: live,
      previous: base,
      next: overlayManifests(base, doc),
      labels: legacy,
    });
    assert.deepEqual(c.enrollment, []);
  });
});

describe('run lock', () => {
  test('concurrent read-modify-writes from several processes lose no update', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-lock-'));
    try {
      const n = 6;
      const script = `
        import { updateOverrides } from ${JSON.stringify(LABELS_TS)};
        const [dir, id] = process.argv.slice(-2);
        for (let i = 0; i < 10; i++)
          updateOverrides(dir, (o) => { o.namespaces['ns' + id + '-' + i] = { k: 'v' }; return true; });
      `;
      await Promise.all(
        Array.from(
          { length: n },
          (_, id) =>
            new Promise<void>((resolve, reject) => {
              const c = spawn(
                process.execPath,
                ['--import', 'tsx', '--input-type=module', '-e', script, dir, String(id)],
                {
                  stdio: ['ignore', 'ignore', 'inherit'],
                  env: { ...process.env, NODE_V8_COVERAGE: '' },
                },
              );
              c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
            }),
        ),
      );
      const o = readOverrides(dir);
      assert.equal(Object.keys(o.namespaces).length, n * 10);
      assert.equal(o.generation, n * 10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a lock left by a dead process is taken over; a live holder times out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-lock-'));
    try {
      writeFileSync(join(dir, LABELS_LOCK), '999999999 0');
      const { changed } = updateOverrides(dir, () => true);
      assert.equal(changed, true);
      assert.equal(readOverrides(dir).generation, 1);
      withRunLock(dir, () => {
        assert.match(readFileSync(join(dir, LABELS_LOCK), 'utf8'), new RegExp(`^${process.pid} `));
        assert.throws(() => withRunLock(dir, () => 0, 100), { code: 'AMBIT_LOCAL_LOCK_BUSY' });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
