#!/usr/bin/env node
// Entry point for the `ambit` CLI. Sources are TypeScript, loaded through tsx,
// so a git checkout runs without a separate build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/bin/ambit.ts');
