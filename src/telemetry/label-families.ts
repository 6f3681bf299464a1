/**
 * Counters and histograms with many labels and per-request updates, kept
 * as plain numbers per label tuple and turned into Prometheus samples only
 * when scraped. prom-client validates and hashes the whole label object on
 * every `inc`/`observe`, even through `labels()` children; with Istio's 21
 * request labels that cost more than proxying the request. These families
 * register in a prom-client Registry like its own metrics (same exposition),
 * and a child is resolved once per label tuple by the caller.
 */
import type { Registry } from 'prom-client';

export type LabelValues = Readonly<Record<string, string>>;

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's Registry reads from a metric. */
interface Exposed {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

export class CounterChild {
  value = 0;
  constructor(readonly labels: LabelValues) {}

  inc(by = 1): void {
    this.value += by;
  }
}

export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: LabelValues,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(v: number): void {
    this.sum += v;
    this.count += 1;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= (b[i] as number)) {
        (this.counts as Float64Array)[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }
}

abstract class Family<C extends { labels: LabelValues }> {
  protected readonly children = new Map<string, C>();
  abstract readonly type: 'counter' | 'histogram';

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
    /** Runs before every scrape (a recorder's queued updates land first). */
    private readonly beforeCollect?: () => void,
  ) {
    // Duck-typed: the Registry only calls get() and reset().
    registry.registerMetric(this as never);
  }

  /** The child for `key` (the caller's cheap encoding of `labels`), created once. */
  child(key: string, labels: () => LabelValues): C {
    let c = this.children.get(key);
    if (c === undefined) {
      c = this.make(labels());
      this.children.set(key, c);
    }
    return c;
  }

  protected abstract make(labels: LabelValues): C;
  protected abstract samples(c: C, out: Sample[]): void;

  get(): Exposed {
    this.beforeCollect?.();
    const values: Sample[] = [];
    for (const c of this.children.values()) this.samples(c, values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    this.children.clear();
  }

  get size(): number {
    return this.children.size;
  }
}

export class CounterFamily extends Family<CounterChild> {
  readonly type = 'counter';

  protected make(labels: LabelValues): CounterChild {
    return new CounterChild(labels);
  }

  protected samples(c: CounterChild, out: Sample[]): void {
    out.push({ labels: { ...c.labels }, value: c.value });
  }
}

export class HistogramFamily extends Family<HistogramChild> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly bounds: readonly number[],
    beforeCollect?: () => void,
  ) {
    super(name, help, registry, beforeCollect);
  }

  protected make(labels: LabelValues): HistogramChild {
    return new HistogramChild(labels, this.bounds);
  }

  protected samples(c: HistogramChild, out: Sample[]): void {
    let acc = 0;
    const bucket = `${this.name}_bucket`;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += c.counts[i] as number;
      out.push({
        labels: { ...c.labels, le: this.bounds[i] as number },
        value: acc,
        metricName: bucket,
      });
    }
    out.push({ labels: { ...c.labels, le: '+Inf' }, value: c.count, metricName: bucket });
    out.push({ labels: { ...c.labels }, value: c.sum, metricName: `${this.name}_sum` });
    out.push({ labels: { ...c.labels }, value: c.count, metricName: `${this.name}_count` });
  }
}
