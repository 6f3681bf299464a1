/**
 * gateway.networking.k8s.io/v1 Gateway, HTTPRoute and GRPCRoute. Defaults
 * follow the Gateway API spec (httproute_types.go, grpcroute_types.go): a
 * rule without matches matches everything (PathPrefix "/" for HTTPRoute), a
 * backendRef weighs 1, a parentRef's kind is Gateway.
 */
import { z } from 'zod';
import { durationMs, labelSelector, objectMeta, port } from './common.js';

const GATEWAY_V1 = z.enum(['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1']);

export const gatewaySchema = z.object({
  apiVersion: GATEWAY_V1,
  kind: z.literal('Gateway'),
  metadata: objectMeta,
  spec: z.object({
    gatewayClassName: z.string().min(1),
    listeners: z
      .array(
        z.object({
          name: z.string().min(1),
          port,
          protocol: z.string().min(1),
          hostname: z.string().optional(),
          allowedRoutes: z
            .object({
              namespaces: z
                .object({
                  from: z.enum(['All', 'Same', 'Selector']).default('Same'),
                  selector: labelSelector.optional(),
                })
                .default({ from: 'Same' }),
            })
            .optional(),
        }),
      )
      .default([]),
  }),
  status: z
    .object({
      addresses: z.array(z.object({ type: z.string().optional(), value: z.string() })).default([]),
    })
    .default({ addresses: [] }),
});

const parentRef = z.object({
  group: z.string().default('gateway.networking.k8s.io'),
  kind: z.string().default('Gateway'),
  name: z.string().min(1),
  namespace: z.string().optional(),
  sectionName: z.string().optional(),
  port: port.optional(),
});
export type ParentRef = z.output<typeof parentRef>;

/**
 * Why `src` is not a usable RegularExpression match, or undefined. The
 * waypoint matches with JavaScript regexes anchored as `^(?:src)$`, so a
 * value it cannot compile is rejected here, naming the route, instead of
 * being pushed and refused by every waypoint.
 */
export function regexProblem(src: string): string | undefined {
  try {
    new RegExp(`^(?:${src})$`);
    return undefined;
  } catch (err) {
    // V8: "Invalid regular expression: /<source>/: <reason>"; keep the reason.
    const msg = (err as Error).message;
    return `invalid regular expression ${JSON.stringify(src)}: ${msg.slice(msg.lastIndexOf(': ') + 2)}`;
  }
}

function checkRegex(m: { type: string; value: string }, ctx: z.RefinementCtx): void {
  if (m.type !== 'RegularExpression') return;
  const problem = regexProblem(m.value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['value'] });
}

const pathMatch = z
  .object({
    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
    value: z.string().startsWith('/', 'must start with /').default('/'),
  })
  .superRefine(checkRegex);
const headerMatch = z
  .object({
    type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
    name: z.string().min(1),
    value: z.string(),
  })
  .superRefine(checkRegex);
const routeMatch = z.object({
  path: pathMatch.optional(),
  headers: z.array(headerMatch).default([]),
  queryParams: z.array(headerMatch).default([]),
  method: z
    .enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])
    .optional(),
});
export type RouteMatch = z.output<typeof routeMatch>;

const headerModifier = z.object({
  set: z.array(z.object({ name: z.string().min(1), value: z.string() })).default([]),
  add: z.array(z.object({ name: z.string().min(1), value: z.string() })).default([]),
  remove: z.array(z.string().min(1)).default([]),
});
const pathModifier = z.object({
  type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
  replaceFullPath: z.string().optional(),
  replacePrefixMatch: z.string().optional(),
});
const backendObjectRef = z.object({
  group: z.string().default(''),
  kind: z.string().default('Service'),
  name: z.string().min(1),
  namespace: z.string().optional(),
  port: port.optional(),
});

const FILTER_FIELD = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  CORS: 'cors',
  ExtensionRef: 'extensionRef',
} as const;

const filter = z
  .object({
    type: z.enum([
      'RequestHeaderModifier',
      'ResponseHeaderModifier',
      'RequestRedirect',
      'URLRewrite',
      'RequestMirror',
      'CORS',
      'ExtensionRef',
    ]),
    requestHeaderModifier: headerModifier.optional(),
    responseHeaderModifier: headerModifier.optional(),
    requestRedirect: z
      .object({
        scheme: z.enum(['http', 'https']).optional(),
        hostname: z.string().optional(),
        path: pathModifier.optional(),
        port: port.optional(),
        statusCode: z
          .union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)])
          .default(302),
      })
      .optional(),
    urlRewrite: z
      .object({ hostname: z.string().optional(), path: pathModifier.optional() })
      .optional(),
    requestMirror: z
      .object({
        backendRef: backendObjectRef,
        percent: z.number().int().min(0).max(100).optional(),
      })
      .optional(),
    cors: z
      .object({
        allowOrigins: z
          .array(
            z
              .string()
              .regex(
                /^(\*|https?:\/\/(\*|(\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?)$/,
                'an origin is "*" or http(s)://host[:port], "*" only leftmost in the host',
              ),
          )
          .refine((o) => !o.includes('*') || o.length === 1, {
            message: 'AllowOrigins cannot contain "*" alongside other origins',
          })
          .default([]),
        allowMethods: z.array(z.string()).default([]),
        allowHeaders: z.array(z.string()).default([]),
        exposeHeaders: z.array(z.string()).default([]),
        allowCredentials: z.boolean().default(false),
        maxAge: z.number().int().min(0).default(5),
      })
      .optional(),
    extensionRef: z.object({ group: z.string(), kind: z.string(), name: z.string() }).optional(),
  })
  .refine((f) => f[FILTER_FIELD[f.type]] !== undefined, {
    message: 'the field named by type must be set',
  });
export type RouteFilter = z.output<typeof filter>;

const backendRef = backendObjectRef.extend({
  weight: z.number().int().min(0).max(1_000_000).default(1),
  filters: z.array(filter).default([]),
});
export type BackendRef = z.output<typeof backendRef>;

const rule = z.object({
  name: z.string().optional(),
  matches: z.array(routeMatch).default([{ headers: [], queryParams: [] }]),
  filters: z.array(filter).default([]),
  backendRefs: z.array(backendRef).default([]),
  timeouts: z
    .object({ request: durationMs.optional(), backendRequest: durationMs.optional() })
    .optional(),
  retry: z
    .object({
      codes: z.array(z.number().int().min(400).max(599)).default([]),
      attempts: z.number().int().min(0).optional(),
      backoff: durationMs.optional(),
    })
    .optional(),
});
export type RouteRule = z.output<typeof rule>;

export const httpRouteSchema = z.object({
  apiVersion: GATEWAY_V1,
  kind: z.literal('HTTPRoute'),
  metadata: objectMeta,
  spec: z.object({
    parentRefs: z.array(parentRef).default([]),
    hostnames: z.array(z.string()).default([]),
    rules: z
      .array(rule)
      .default([{ matches: [{ headers: [], queryParams: [] }], filters: [], backendRefs: [] }]),
  }),
});

/** GRPCRoute filters (the Gateway API allows these four). */
const GRPC_FILTERS: ReadonlySet<string> = new Set([
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestMirror',
  'ExtensionRef',
]);
const grpcFilter = filter.refine((f) => GRPC_FILTERS.has(f.type), {
  message: `a GRPCRoute filter is one of ${[...GRPC_FILTERS].join(', ')}`,
  path: ['type'],
});

/** A gRPC method: `service` ("pkg.Service") and/or `method`, exactly or as regexes. */
const grpcMethodMatch = z
  .object({
    type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
    service: z.string().min(1).optional(),
    method: z.string().min(1).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.service === undefined && m.method === undefined)
      ctx.addIssue({ code: 'custom', message: 'one of service or method must be set' });
    for (const k of ['service', 'method'] as const) {
      const v = m[k];
      if (v === undefined) continue;
      if (m.type === 'RegularExpression') {
        const problem = regexProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [k] });
      } else if (v.includes('/'))
        ctx.addIssue({ code: 'custom', message: 'must not contain /', path: [k] });
    }
  });
export type GrpcMethodMatch = z.output<typeof grpcMethodMatch>;

const grpcBackendRef = backendObjectRef.extend({
  weight: z.number().int().min(0).max(1_000_000).default(1),
  filters: z.array(grpcFilter).default([]),
});

const grpcRule = z.object({
  name: z.string().optional(),
  matches: z
    .array(
      z.object({ method: grpcMethodMatch.optional(), headers: z.array(headerMatch).default([]) }),
    )
    .default([{ headers: [] }]),
  filters: z.array(grpcFilter).default([]),
  backendRefs: z.array(grpcBackendRef).default([]),
});
export type GrpcRouteRule = z.output<typeof grpcRule>;

export const grpcRouteSchema = z.object({
  apiVersion: z.enum(['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1alpha2']),
  kind: z.literal('GRPCRoute'),
  metadata: objectMeta,
  spec: z.object({
    parentRefs: z.array(parentRef).default([]),
    hostnames: z.array(z.string()).default([]),
    rules: z
      .array(grpcRule)
      .default([{ matches: [{ headers: [] }], filters: [], backendRefs: [] }]),
  }),
});
