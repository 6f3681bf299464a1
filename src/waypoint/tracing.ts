/**
 * Server spans through @opentelemetry/api, loaded only when an OpenTelemetry
 * SDK has registered itself in the process (for example with
 * `NODE_OPTIONS=--import ./otel-setup.mjs`). Without an SDK every span is a
 * no-op, and loading the API alone costs a proxy ~8 MB of RSS.
 */
import type { Span, Tracer } from '@opentelemetry/api';

type Api = typeof import('@opentelemetry/api');

/** Where @opentelemetry/api v1 keeps its registered globals. */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

let api: Api | undefined;
let tracer: Tracer | undefined;

/** Loads the API when an SDK is registered. Resolves whether spans are on. */
export async function initTracing(): Promise<boolean> {
  if (api) return true;
  if (!(OTEL_GLOBAL in globalThis)) return false;
  api = await import('@opentelemetry/api');
  tracer = api.trace.getTracer('ambit-waypoint');
  return true;
}

/** Starts a server span for a request; undefined while tracing is off. */
export function startSpan(
  name: string,
  headers: Record<string, string | string[] | undefined>,
): Span | undefined {
  if (!api || !tracer) return undefined;
  const parent = api.propagation.extract(api.context.active(), headers);
  return tracer.startSpan(name, { kind: api.SpanKind.SERVER }, parent);
}

export function endSpan(span: Span, status: number): void {
  span.setAttribute('http.response.status_code', status);
  if (status >= 500 && api) span.setStatus({ code: api.SpanStatusCode.ERROR });
  span.end();
}
