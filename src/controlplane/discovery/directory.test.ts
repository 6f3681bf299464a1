import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SHOP_DIR } from '../../../test/fixtures/manifests/load.js';
import { ManifestDirectorySource } from './directory.js';
import { ConfigStore } from './store.js';

/** Polls until `cond` holds (watch events are asynchronous); fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

const names = (store: ConfigStore, kind: string) =>
  store
    .snapshot()
    .resources.filter((r) => r.kind === kind)
    .map((r) => `${r.metadata.namespace}/${r.metadata.name}`);

test('manifest directory: edits, additions and deletions show up as new snapshots', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-cp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(SHOP_DIR, join(dir, 'shop'), { recursive: true });
  const store = new ConfigStore();
  const src = new ManifestDirectorySource(store, dir, { debounceMs: 30 });
  t.after(() => src.close());
  src.start();
  assert.ok(names(store, 'Deployment').includes('shop/catalog-v2'));
  const v0 = store.snapshot().version;

  // Add a file.
  writeFileSync(
    join(dir, 'extra.yaml'),
    'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: extra, namespace: shop}\n',
  );
  await until(() => names(store, 'ServiceAccount').includes('shop/extra'), 'added file');
  assert.ok(store.snapshot().version > v0);

  // Edit a file in a subdirectory: scale catalog-v1.
  const wl = join(dir, 'shop', '10-workloads.yaml');
  const { readFileSync } = await import('node:fs');
  writeFileSync(wl, readFileSync(wl, 'utf8').replace('replicas: 2', 'replicas: 3'));
  await until(
    () =>
      store
        .snapshot()
        .resources.some(
          (r) =>
            r.kind === 'Deployment' && r.metadata.name === 'catalog-v1' && r.spec.replicas === 3,
        ),
    'edited file',
  );

  // An invalid edit is rejected and the old version stays.
  writeFileSync(
    join(dir, 'extra.yaml'),
    'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: extra, namespace: shop, labels: {a: [1]}}\n',
  );
  await until(() => store.status().length === 1, 'rejection');
  assert.ok(names(store, 'ServiceAccount').includes('shop/extra'));
  assert.equal(store.status()[0]?.retained, true);

  // Delete a file: its resources go.
  unlinkSync(join(dir, 'extra.yaml'));
  await until(() => !names(store, 'ServiceAccount').includes('shop/extra'), 'deleted file');
  assert.deepEqual(store.status(), []);

  // Delete a whole subdirectory.
  rmSync(join(dir, 'shop'), { recursive: true });
  await until(() => store.snapshot().resources.length === 0, 'deleted directory');
});

test('manifest directory: every atomic replacement (temp + rename) is seen, also in a new subdirectory', async (t) => {
  const { mkdirSync, renameSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'ambit-cp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new ConfigStore();
  const src = new ManifestDirectorySource(store, dir, { debounceMs: 30 });
  t.after(() => src.close());
  const sa = (d: string, n: number) => {
    const path = join(d, 'sa.yaml');
    writeFileSync(
      `${path}.tmp`,
      `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa${n}, namespace: shop}\n`,
    );
    renameSync(`${path}.tmp`, path);
  };
  sa(dir, 0);
  src.start();
  // Node 20's recursive watch reports only the first replacement of a file.
  for (let n = 1; n <= 4; n++) {
    sa(dir, n);
    await until(() => names(store, 'ServiceAccount').includes(`shop/sa${n}`), `replacement ${n}`);
  }
  mkdirSync(join(dir, 'sub'));
  await sleep(100); // the new directory's watcher comes with the rescan its creation triggers
  for (let n = 5; n <= 6; n++) {
    sa(join(dir, 'sub'), n);
    await until(
      () => names(store, 'ServiceAccount').includes(`shop/sa${n}`),
      `sub replacement ${n}`,
    );
  }
});
