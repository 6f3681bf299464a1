#!/usr/bin/env bash
# The whole test suite: the README's test command and what CI runs.
# Installs its own dependencies, checks generated code, types and lint, then
# runs every suite (unit, integration, and network-namespace tests as root)
# and the benchmark smoke test (scripts/bench-smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== generated code"; node scripts/gen-proto.mjs --check
echo "== typecheck"; npx --no-install tsc --noEmit -p .
echo "== lint"; npx --no-install biome check .
echo "== tests"
npx --no-install c8 --reporter=text-summary --exclude='src/gen/**' --exclude='**/*.test.ts' --exclude='test/**' \
  node scripts/run-tests.mjs "$@"
# The benchmark harness in quick mode (~2 min): checks every arm produces
# numbers, never their size. Only for the whole suite, not filtered runs.
if [ "$#" -eq 0 ]; then echo "== bench smoke"; bash scripts/bench-smoke.sh; fi
