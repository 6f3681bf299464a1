import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { endSpan, initTracing, startSpan } from './tracing.js';

test('spans are off until an OpenTelemetry SDK registers, then carry the request', async () => {
  const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
  // Nothing registered in this process: the API is not even loaded.
  assert.equal(await initTracing(), false);
  assert.equal(startSpan('svc:80/*', headers), undefined);

  // A stand-in SDK: a provider whose spans record what the waypoint sets.
  const started: {
    name: string;
    options?: SpanOptions;
    attrs: Record<string, unknown>;
    ended: boolean;
  }[] = [];
  const tracer = {
    startSpan(name: string, options?: SpanOptions) {
      const rec = { name, options, attrs: {} as Record<string, unknown>, ended: false };
      started.push(rec);
      return {
        setAttribute: (k: string, v: unknown) => {
          rec.attrs[k] = v;
        },
        setStatus: (s: unknown) => {
          rec.attrs.status = s;
        },
        end: () => {
          rec.ended = true;
        },
      } as unknown as Span;
    },
  } as unknown as Tracer;
  const provider: TracerProvider = { getTracer: () => tracer };
  assert.equal(trace.setGlobalTracerProvider(provider), true);

  assert.equal(await initTracing(), true);
  const span = startSpan('svc:80/*', headers);
  assert.ok(span);
  endSpan(span, 503);
  assert.equal(started.length, 1);
  assert.equal(started[0]?.name, 'svc:80/*');
  assert.equal(started[0]?.attrs['http.response.status_code'], 503);
  assert.deepEqual(started[0]?.attrs.status, { code: 2 }, 'a 5xx marks the span as an error');
  assert.equal(started[0]?.ended, true);
});
