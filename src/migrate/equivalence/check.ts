/**
 * The route-equivalence check: every sample request must reach the same
 * destination (Service, or subset → version Service) through the converted
 * HTTPRoutes as through the VirtualService.
 */
import type { HTTPRouteObject } from '../convert/gw.js';
import type { Resolve } from '../convert/rules.js';
import type { VsHttpRoute } from '../shapes.js';
import { evaluateHttpRoutes } from './route-eval.js';
import { samplesFor } from './samples.js';
import { describeOutcome, type SampleRequest, sameOutcome } from './types.js';
import { evaluateVirtualService } from './vs-eval.js';

export interface SampleRow {
  request: SampleRequest;
  virtualService: string;
  virtualServiceRule: string;
  httpRoute: string;
  httpRouteRule: string;
  same: boolean;
}

export interface EquivalenceResult {
  /** "namespace/VirtualService name". */
  virtualService: string;
  /** Host the samples were sent to. */
  host: string;
  /** "namespace/name" of the HTTPRoutes evaluated. */
  routes: string[];
  rows: SampleRow[];
  mismatches: number;
}

export function checkEquivalence(input: {
  virtualService: string;
  host: string;
  http: readonly VsHttpRoute[];
  gateways?: readonly string[];
  resolve: Resolve;
  routes: readonly HTTPRouteObject[];
  samples?: readonly SampleRequest[];
}): EquivalenceResult {
  const samples = input.samples ?? samplesFor(input.http);
  const rows = samples.map((request) => {
    const vs = evaluateVirtualService(
      input.http,
      request,
      input.resolve,
      input.host,
      input.gateways,
    );
    const rt = evaluateHttpRoutes(input.routes, request, input.host);
    return {
      request,
      virtualService: describeOutcome(vs.outcome),
      virtualServiceRule: vs.via,
      httpRoute: describeOutcome(rt.outcome),
      httpRouteRule: rt.via,
      same: sameOutcome(vs.outcome, rt.outcome),
    };
  });
  return {
    virtualService: input.virtualService,
    host: input.host,
    routes: input.routes.map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
    rows,
    mismatches: rows.filter((r) => !r.same).length,
  };
}
