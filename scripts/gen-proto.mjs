#!/usr/bin/env node
// Regenerates src/gen from proto/ with buf + protoc-gen-es.
// With --check, generates into a temp dir and fails if src/gen differs (CI guard).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const check = process.argv.includes('--check');
const bin = join(root, 'node_modules', '.bin');
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

if (!check) {
  rmSync(join(root, 'src/gen'), { recursive: true, force: true });
  execFileSync('buf', ['generate'], { cwd: root, env, stdio: 'inherit' });
  process.exit(0);
}

const tmp = mkdtempSync(join(tmpdir(), 'ambit-gen-'));
try {
  cpSync(join(root, 'proto'), join(tmp, 'proto'), { recursive: true });
  cpSync(join(root, 'buf.yaml'), join(tmp, 'buf.yaml'));
  cpSync(join(root, 'buf.gen.yaml'), join(tmp, 'buf.gen.yaml'));
  execFileSync('buf', ['generate'], { cwd: tmp, env, stdio: 'inherit' });
  const fresh = walk(join(tmp, 'src/gen'))
    .map((p) => relative(join(tmp, 'src/gen'), p))
    .sort();
  const have = walk(join(root, 'src/gen'))
    .map((p) => relative(join(root, 'src/gen'), p))
    .sort();
  const stale = [];
  if (fresh.join('\n') !== have.join('\n')) stale.push('file list differs');
  for (const f of fresh) {
    const a = readFileSync(join(tmp, 'src/gen', f), 'utf8');
    let b = '';
    try {
      b = readFileSync(join(root, 'src/gen', f), 'utf8');
    } catch {
      /* missing */
    }
    if (a !== b) stale.push(f);
  }
  if (stale.length > 0) {
    console.error(`generated code is stale (run npm run gen): ${stale.join(', ')}`);
    process.exit(1);
  }
  console.log('generated code is current');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
