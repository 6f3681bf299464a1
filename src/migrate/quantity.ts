/** Kubernetes resource quantities, for the cost report. */

const MEM: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** CPU quantity ("100m", "0.5", "2") in millicores; undefined if unparsable. */
export function cpuMillicores(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q * 1000;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(q.trim());
  if (m === null) return undefined;
  return m[2] === 'm' ? Number(m[1]) : Number(m[1]) * 1000;
}

/** Memory quantity ("128Mi", "1G", "536870912") in MiB; undefined if unparsable. */
export function memoryMiB(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q / 1024 ** 2;
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?|k)?$/.exec(q.trim());
  if (m === null) return undefined;
  return (Number(m[1]) * (MEM[m[2] ?? ''] ?? 1)) / 1024 ** 2;
}
