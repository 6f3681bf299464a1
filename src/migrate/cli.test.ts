import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseManifestText, parseResources, readManifests } from '../kube/index.js';
import { schemaError } from './models.js';

const root = new URL('../..', import.meta.url).pathname;
const fixtures = 'test/fixtures/migrate/cluster';
const broken = 'test/fixtures/migrate/broken/manifests.yaml.txt';

function ambit(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/ambit.js', 'migrate', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('migrate check: table by default, exit 2 when a namespace is blocked', () => {
  const r = ambit('check', '-f', fixtures, '-f', broken);
  assert.equal(r.code, 2, r.err);
  assert.match(r.out, /^NAMESPACE\s+VERDICT/);
  assert.match(r.out, /bookinfo\s+blocked/);
  assert.match(r.out, /shop\s+ready-after-conversion/);
  assert.match(r.out, /manifests\.yaml\.txt \(document 3\): unknown kind Widget/);
});

test('migrate check -o json|markdown|html; exit 0 without blockers', () => {
  const json = ambit(
    'check',
    '-f',
    `${fixtures}/20-shop.yaml`,
    '-f',
    `${fixtures}/00-namespaces.yaml`,
    '-o',
    'json',
  );
  assert.equal(json.code, 0, json.err);
  const report = JSON.parse(json.out) as { namespaces: { name: string; verdict: string }[] };
  assert.equal(report.namespaces.find((n) => n.name === 'shop')?.verdict, 'ready-after-conversion');
  const md = ambit('check', '-f', fixtures, '-o', 'markdown');
  assert.match(md.out, /^# ambit migrate check/);
  const html = ambit('check', '-f', fixtures, '-o', 'html');
  assert.match(html.out, /^<!doctype html>/);
});

test('migrate convert writes valid per-namespace YAML, reports and samples', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-convert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = ambit('convert', '-f', fixtures, '-f', broken, '-o', dir);
  assert.equal(r.code, 2, r.err); // bookinfo is blocked; everything is still written
  assert.match(r.out, /wrote .*shop\.yaml/);
  const set = parseManifestText(
    readFileSync(join(dir, 'manifests', 'shop.yaml'), 'utf8'),
    'shop.yaml',
  );
  assert.deepEqual(set.problems, []);
  for (const { object } of set.objects) assert.equal(schemaError(object), undefined);
  assert.match(readFileSync(join(dir, 'report.md'), 'utf8'), /fault injection/);
  const samples = JSON.parse(readFileSync(join(dir, 'samples.json'), 'utf8')) as {
    virtualService: string;
    samples: unknown[];
  }[];
  assert.ok(samples.some((s) => s.virtualService === 'shop/catalog' && s.samples.length > 4));
  // What `ambit apply -f DIR/manifests` checks first: every document is one the
  // mesh accepts (the reports beside it are not read as documents).
  const applied = readManifests([join(dir, 'manifests')]);
  assert.deepEqual(applied.problems, []);
  const parsed = parseResources(applied.objects);
  assert.deepEqual(
    parsed.rejected.map((r) => `${r.source.file}: ${r.reason}`),
    [],
  );
  assert.ok(parsed.resources.some((r) => r.resource.kind === 'HTTPRoute'));
});

test('migrate cost: saving from Node objects in the input; --nodes required otherwise', () => {
  const r = ambit('cost', '-f', fixtures, '-o', 'json', '--bench', '/nonexistent.json');
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out) as {
    nodes: number;
    sidecarTotal: { proxies: number };
    saving: { cpuPercent: number };
  };
  assert.equal(report.nodes, 3);
  assert.equal(report.sidecarTotal.proxies, 20);
  assert.ok(report.saving.cpuPercent > 50);
  const none = ambit('cost', '-f', `${fixtures}/20-shop.yaml`);
  assert.equal(none.code, 1);
  assert.match(none.err, /AMBIT_MIGRATE_INPUT_INVALID.*--nodes/);
  const nothing = ambit('check');
  assert.equal(nothing.code, 1);
  assert.match(nothing.err, /AMBIT_MIGRATE_INPUT_INVALID/);
});
