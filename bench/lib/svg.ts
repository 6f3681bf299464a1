// A tiny grouped bar chart as SVG (no dependencies): one group per category,
// one bar per series, value labels on top. Null values leave a gap marked "n/a".

export interface BarChart {
  title: string;
  unit: string;
  categories: string[];
  series: { name: string; values: (number | null)[] }[];
}

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1'];

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function label(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

export function barChartSvg(c: BarChart): string {
  const barW = 22;
  const gap = 26;
  const groupW = c.series.length * barW + gap;
  const left = 60;
  const top = 40;
  const plotH = 220;
  const width = Math.max(420, left + c.categories.length * groupW + 20);
  const legendY = top + plotH + 48;
  const height = legendY + 20 * Math.ceil(c.series.length / 3) + 10;
  const all = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  const max = Math.max(...all.map((v) => Math.abs(v)), 1e-9) * 1.15;
  const y = (v: number) => top + plotH - (Math.max(v, 0) / max) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
    `<text x="14" y="${top + plotH / 2}" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${esc(c.unit)}</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${width - 10}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const v = (max / 1.15) * (t / 4);
    out.push(
      `<line x1="${left - 4}" y1="${y(v)}" x2="${width - 10}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${label(v)}</text>`,
    );
  }
  c.categories.forEach((cat, i) => {
    const gx = left + gap / 2 + i * groupW;
    c.series.forEach((s, j) => {
      const v = s.values[i] ?? null;
      const x = gx + j * barW;
      if (v === null || !Number.isFinite(v)) {
        out.push(
          `<text x="${x + barW / 2}" y="${top + plotH - 4}" text-anchor="middle" fill="#999" font-size="9">n/a</text>`,
        );
        return;
      }
      out.push(
        `<rect x="${x + 1}" y="${y(v)}" width="${barW - 2}" height="${top + plotH - y(v)}" fill="${COLORS[j % COLORS.length]}"/>`,
        `<text x="${x + barW / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="9">${label(v)}</text>`,
      );
    });
    out.push(
      `<text x="${gx + (c.series.length * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(cat)}</text>`,
    );
  });
  c.series.forEach((s, j) => {
    const lx = left + (j % 3) * 140;
    const ly = legendY + Math.floor(j / 3) * 20;
    out.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[j % COLORS.length]}"/>`,
      `<text x="${lx + 16}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
