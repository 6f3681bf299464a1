/** A request in the sample table. Header names are lower case; `path` has no query. */
export interface SampleRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
}

/** Where a request goes: weighted backends (percent), a redirect, or a local status. */
export type Outcome =
  | { kind: 'backends'; backends: { name: string; percent: number }[] }
  | { kind: 'redirect'; status: number; location: string }
  | { kind: 'status'; status: number };

export interface Evaluation {
  outcome: Outcome;
  /** Which rule decided ("http[1]", "reviews rules[0]"), or "no match". */
  via: string;
}

export function describeOutcome(o: Outcome): string {
  if (o.kind === 'backends')
    return o.backends
      .map((b) => (b.percent === 100 ? b.name : `${b.name} ${b.percent}%`))
      .join(', ');
  if (o.kind === 'redirect') return `redirect ${o.status} ${o.location}`;
  return `status ${o.status}`;
}

export function sameOutcome(a: Outcome, b: Outcome): boolean {
  return describeOutcome(a) === describeOutcome(b);
}

/** Normalises weights to whole percent, sorted by name; zero weights drop out. */
export function weighted(entries: readonly { name: string; weight: number }[]): Outcome {
  const merged = new Map<string, number>();
  for (const e of entries) merged.set(e.name, (merged.get(e.name) ?? 0) + e.weight);
  const total = [...merged.values()].reduce((a, b) => a + b, 0);
  if (total <= 0) return { kind: 'status', status: 500 };
  const backends = [...merged.entries()]
    .filter(([, w]) => w > 0)
    .map(([name, w]) => ({ name, percent: Math.round((w * 10000) / total) / 100 }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { kind: 'backends', backends };
}

/** Full-match regex (RE2 and Envoy semantics); an invalid pattern matches nothing. */
export function fullMatch(pattern: string, value: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(value);
  } catch {
    return false;
  }
}
