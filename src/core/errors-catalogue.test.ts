import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;
// Codes are declared as `KEY: 'AMBIT_…',` entries of an `XxxErrors` const object
// (see CoreErrors); this matches those declarations and nothing else (env var
// names such as AMBIT_LOG_LEVEL are not codes).
const CODE = /^\s+[A-Z0-9_]+: '(AMBIT_[A-Z0-9_]+)',$/gm;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'gen') continue;
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

test('every error code in the source is catalogued in docs/errors.md, and nothing else is', () => {
  const used = new Set<string>();
  for (const file of sources(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(CODE)) used.add(m[1] as string);
  }
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const documented = new Set(
    [...doc.matchAll(/^\| `(AMBIT_[A-Z0-9_]+)`/gm)].map((m) => m[1] as string),
  );
  const missing = [...used].filter((c) => !documented.has(c)).sort();
  const stale = [...documented].filter((c) => !used.has(c)).sort();
  assert.deepEqual(
    missing,
    [],
    `codes used in src but missing from docs/errors.md: ${missing.join(', ')}`,
  );
  assert.deepEqual(stale, [], `codes in docs/errors.md no longer used in src: ${stale.join(', ')}`);
  assert.ok(used.size >= 5);
});
