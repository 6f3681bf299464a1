import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { nextTraceparent } from './metrics.js';
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

test('traceparent to send upstream: W3C trace context kept, a new parent id per hop', () => {
  const TP = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
  const cases: [string, string | undefined, { keep: boolean; flags: string; sampled: boolean }][] =
    [
      ['none: a new trace', undefined, { keep: false, flags: '01', sampled: false }],
      [
        'sampled caller',
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        { keep: true, flags: '01', sampled: true },
      ],
      [
        'unsampled caller',
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
        { keep: true, flags: '00', sampled: false },
      ],
      [
        'all-zero trace id (invalid): a new trace',
        '00-00000000000000000000000000000000-b7ad6b7169203331-01',
        { keep: false, flags: '01', sampled: false },
      ],
      ['malformed: a new trace', '00-xyz-01', { keep: false, flags: '01', sampled: false }],
    ];
  for (const [name, incoming, want] of cases) {
    const a = nextTraceparent(incoming);
    const b = nextTraceparent(incoming);
    const m = TP.exec(a.traceparent);
    assert.ok(m, `${name}: ${a.traceparent}`);
    assert.equal(m[1], a.traceId, name);
    assert.notEqual(a.traceId, '0'.repeat(32), name);
    assert.equal(m[3], want.flags, name);
    assert.equal(a.sampled, want.sampled, name);
    if (want.keep) assert.equal(a.traceId, incoming?.slice(3, 35), name);
    else assert.notEqual(a.traceId, b.traceId, `${name}: each request its own trace`);
    // This hop's parent id is new every time, never the caller's.
    assert.notEqual(m[2], incoming?.slice(36, 52), name);
    assert.notEqual(m[2], TP.exec(b.traceparent)?.[2], name);
  }
});
