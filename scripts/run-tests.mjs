#!/usr/bin/env node
// Runs the node:test suites through tsx. Node 20's --test does not expand
// globs, so the file list is built here.
//   node scripts/run-tests.mjs                 all suites
//   node scripts/run-tests.mjs --unit          src/**/*.test.ts only
//   node scripts/run-tests.mjs --integration   test/integration only
//   node scripts/run-tests.mjs --netns         test/netns only (root)
//   node scripts/run-tests.mjs path/or/substring ...  files matching any argument
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  let out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'gen') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const suites = {
  '--unit': walk(join(root, 'src')),
  '--integration': walk(join(root, 'test/integration')),
  '--netns': walk(join(root, 'test/netns')),
};
const chosen = Object.keys(suites).filter((k) => flags.has(k));
let files = (chosen.length ? chosen : Object.keys(suites)).flatMap((k) => suites[k]);
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
files.sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.AMBIT_TEST_CONCURRENCY ?? '2';
const nodeArgs = [
  '--import',
  'tsx',
  '--test',
  `--test-concurrency=${concurrency}`,
  '--test-reporter=spec',
];
if (process.env.AMBIT_TEST_TIMEOUT)
  nodeArgs.push(`--test-timeout=${process.env.AMBIT_TEST_TIMEOUT}`);
const r = spawnSync(process.execPath, [...nodeArgs, ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
