/**
 * kubectl-like output: a padded table by default, `-o json` or `-o yaml` for
 * machines. Commands build plain objects and rows; formatting lives here.
 */
import { Option } from 'commander';
import { stringify } from 'yaml';
import { AmbitError, CoreErrors } from '../core/errors.js';

export type OutputFormat = 'table' | 'json' | 'yaml' | 'wide';

export function outputOption(extra: readonly string[] = []): Option {
  return new Option('-o, --output <format>', 'output format')
    .choices(['table', 'wide', 'json', 'yaml', ...extra])
    .default('table');
}

export function parseOutput(v: string | undefined): OutputFormat {
  if (v === undefined) return 'table';
  if (v === 'table' || v === 'json' || v === 'yaml' || v === 'wide') return v;
  throw new AmbitError(CoreErrors.CONFIG_INVALID, `unknown output format ${v}`);
}

/** Renders rows as an aligned table with upper-case headers, kubectl style. */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly unknown[])[],
): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

function cell(v: unknown): string {
  if (v === undefined || v === null || v === '') return '<none>';
  if (Array.isArray(v)) return v.length === 0 ? '<none>' : v.map(String).join(',');
  return String(v);
}

/** Prints data as JSON/YAML, or calls `table()` for the human form. */
export function printResult(format: string | undefined, data: unknown, table: () => string): void {
  const f = parseOutput(format);
  if (f === 'json') process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else if (f === 'yaml') process.stdout.write(stringify(data));
  else process.stdout.write(table());
}
