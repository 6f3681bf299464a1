import { AmbitError, CoreErrors } from './errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses Go/Kubernetes-style durations ("24h", "1h30m", "500ms", "90d") and
 * bare integers (seconds, as Istio's env vars accept). Returns milliseconds.
 */
export function parseDuration(input: string, what = 'duration'): number {
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    consumed = re.lastIndex;
  }
  if (text.length === 0 || consumed !== text.length) {
    throw new AmbitError(
      CoreErrors.DURATION_INVALID,
      `invalid ${what} "${input}": use a number with a unit, e.g. 500ms, 30s, 24h, 90d`,
    );
  }
  return Math.round(total);
}

/** Formats milliseconds compactly: 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, secs] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / secs);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * secs;
  }
  return parts.join('');
}
