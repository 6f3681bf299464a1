import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseManifestText, readManifests } from './manifests.js';

test('multi-document YAML, List objects and empty documents', () => {
  const text = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}',
    'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ServiceAccount, metadata: {name: a, namespace: shop}}\n- {apiVersion: v1, kind: ServiceAccount, metadata: {name: b, namespace: shop}}',
    '',
  ].join('\n---\n');
  const set = parseManifestText(text, 'x.yaml');
  assert.deepEqual(
    set.objects.map((o) => [o.object.kind, o.source.document]),
    [
      ['Namespace', 0],
      ['ServiceAccount', 1],
      ['ServiceAccount', 1],
    ],
  );
  assert.deepEqual(set.problems, []);
});

test('bad documents are reported by file and index and do not hide good ones', () => {
  const text = [
    'kind: [unclosed',
    'just a string',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}',
    'metadata: {}',
  ].join('\n---\n');
  const set = parseManifestText(text, 'bad.yaml');
  assert.equal(set.objects.length, 1);
  assert.deepEqual(
    set.problems.map((p) => p.source.document),
    [0, 1, 3],
  );
  assert.match(set.problems[0]?.message ?? '', /invalid YAML/);
  assert.match(set.problems[2]?.message ?? '', /apiVersion\/kind/);
});

test('directories are read recursively, non-YAML files skipped', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-manifests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n');
  writeFileSync(
    join(dir, 'sub', 'b.yml'),
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n',
  );
  writeFileSync(join(dir, 'README.md'), '# not yaml: [');
  const set = readManifests([dir]);
  assert.deepEqual(
    set.objects.map((o) => (o.object.metadata as { name: string }).name),
    ['a', 'b'],
  );
  assert.deepEqual(set.problems, []);
});
