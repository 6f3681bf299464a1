/** Writes a conversion to a directory: one multi-document YAML per namespace plus reports. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AmbitError } from '../core/errors.js';
import type { ManifestProblem } from '../kube/index.js';
import type { Conversion } from './convert.js';
import { MigrateErrors } from './errors.js';
import { convertMarkdown } from './report/convert.js';

export function toYaml(objects: readonly Record<string, unknown>[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0, version: '1.1' })).join('---\n');
}

/** The sample table, for replay through a real waypoint. */
export function samplesDocument(c: Conversion): unknown {
  return c.equivalence.map((e) => ({
    virtualService: e.virtualService,
    host: e.host,
    routes: e.routes,
    samples: e.rows.map((r) => ({
      request: r.request,
      expect: r.httpRoute,
      virtualService: r.virtualService,
      same: r.same,
    })),
  }));
}

/**
 * Where the manifests go inside the output directory. Apart from the reports
 * (report.json and samples.json are JSON, which `ambit apply -f` and
 * `kubectl apply -f` would read as documents), so `apply -f DIR/manifests`
 * takes the whole conversion.
 */
export const MANIFESTS_DIR = 'manifests';

/** Returns the files written, relative to `dir`. */
export function writeConversion(
  dir: string,
  c: Conversion,
  problems: readonly ManifestProblem[],
): string[] {
  const files: [string, string][] = [];
  for (const ns of c.namespaces) {
    if (ns.objects.length > 0) files.push([`${MANIFESTS_DIR}/${ns.name}.yaml`, toYaml(ns.objects)]);
  }
  files.push(['report.md', convertMarkdown(c, problems)]);
  files.push([
    'report.json',
    `${JSON.stringify({ namespaces: c.namespaces.map(({ objects, ...rest }) => ({ ...rest, objects: objects.length })), findings: c.findings, invalid: c.invalid, problems }, null, 2)}\n`,
  ]);
  files.push(['samples.json', `${JSON.stringify(samplesDocument(c), null, 2)}\n`]);
  try {
    mkdirSync(join(dir, MANIFESTS_DIR), { recursive: true });
    for (const [name, text] of files) writeFileSync(join(dir, name), text);
  } catch (err) {
    throw new AmbitError(MigrateErrors.OUTPUT_WRITE, `cannot write ${dir}: ${String(err)}`, {
      cause: err,
    });
  }
  return files.map(([name]) => name);
}
