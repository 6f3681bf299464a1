#!/usr/bin/env bash
# CI smoke test for the benchmark harness (issue 7): runs `npm run bench --
# --quick` and checks that every arm that could run produced numbers and that
# every null has a reason. It never judges the numbers' size: CI machines are
# noisy. Needs root (network namespaces); skipped otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "bench-smoke: skipped (needs root)"; exit 0; fi
for tool in stunnel4 haproxy iperf3; do
  command -v "$tool" >/dev/null || { echo "bench-smoke: $tool missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }
done
out="$(mktemp -d)/quick.json"
start=$(date +%s)
node --import tsx bench/run.ts --quick --out "$out" >/dev/null
echo "bench-smoke: quick mode took $(( $(date +%s) - start )) s"
node --input-type=module - "$out" <<'JS'
import { readFileSync } from 'node:fs';
const r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const fail = [];
const num = (v) => typeof v === 'number' && Number.isFinite(v);
if (r.mode !== 'quick') fail.push(`mode ${r.mode}`);
for (const k of ['cpus', 'kernel', 'node']) if (r.machine?.[k] == null) fail.push(`machine.${k}`);
const FIELDS = ['latency_ms', 'added_latency_ms', 'throughput_gbps', 'new_conn_p50_ms', 'cpu_s_per_1k_req', 'rss_mb', 'idle_10k_rss_mb'];
// Arms that must run on any machine with the peers installed; ambit-l7 may be
// unavailable (then it must say why).
const MUST = ['direct', 'stunnel', 'haproxy-tcp', 'haproxy-http', 'ambit-l4'];
for (const arm of [...MUST, 'ambit-l7']) {
  const a = r.arms?.[arm];
  if (!a) { fail.push(`arm ${arm} missing`); continue; }
  for (const f of FIELDS) if (!(f in a)) fail.push(`${arm}.${f} missing`);
  if (a.unavailable) {
    if (MUST.includes(arm)) fail.push(`${arm} unavailable: ${a.unavailable}`);
    continue;
  }
  for (const p of ['p50', 'p90', 'p99']) {
    if (!num(a.latency_ms?.[p])) fail.push(`${arm}.latency_ms.${p}`);
    if (!num(a.added_latency_ms?.[p])) fail.push(`${arm}.added_latency_ms.${p}`);
  }
  if (!num(a.new_conn_p50_ms)) fail.push(`${arm}.new_conn_p50_ms`);
  // Nulls are allowed only with a reason (direct has no proxy; HTTP proxies carry no iperf3).
  for (const f of ['throughput_gbps', 'cpu_s_per_1k_req', 'rss_mb', 'idle_10k_rss_mb']) {
    if (!num(a[f]) && !(a.null_reasons && (a.null_reasons[f] || arm === 'direct')))
      fail.push(`${arm}.${f} is ${a[f]} without a reason`);
  }
}
const t = r.tax;
if (!t) fail.push('tax missing');
else {
  if (!num(t.sidecar?.cpu_s) || !num(t.sidecar?.rss_mb)) fail.push('tax.sidecar has no numbers');
  if (!num(t.ambient?.cpu_s) && !t.ambient?.unavailable) fail.push('tax.ambient has no numbers and no reason');
  if (!t.reduction || !('cpu' in t.reduction) || !('memory' in t.reduction)) fail.push('tax.reduction');
}
if (fail.length > 0) {
  console.error(`bench-smoke: FAILED\n  ${fail.join('\n  ')}`);
  process.exit(1);
}
console.log('bench-smoke: every arm produced numbers');
JS
