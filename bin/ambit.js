#!/usr/bin/env node
// Entry point for the `ambit` CLI. Sources are TypeScript. When a compiled
// build in dist/ is at least as new as every source file (scripts/bootstrap.sh
// makes one), it runs that: a tsx process costs ~40 MB more RSS and a slower
// start, which matters for per-node proxies. Otherwise (a checkout being
// edited) the sources are loaded through tsx, so no build step is needed.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function buildIsFresh() {
  if (process.env.AMBIT_FROM_SOURCE === '1') return false;
  try {
    return statSync(`${root}dist/.build-stamp`).mtimeMs >= newestSource(`${root}src`);
  } catch {
    return false;
  }
}

if (buildIsFresh()) {
  await import('../dist/bin/ambit.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/bin/ambit.ts');
}
