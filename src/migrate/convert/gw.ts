/** The Gateway API shapes migrate emits and the route evaluator reads. */

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
}

export interface ParentRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
  port?: number;
}

export interface PathMatch {
  type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value: string;
}

export interface ValueMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

export interface GwMatch {
  path?: PathMatch;
  headers?: ValueMatch[];
  queryParams?: ValueMatch[];
  method?: string;
}

export interface HeaderModifier {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: GwFilter[];
}

export type GwFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier }
  | {
      type: 'RequestRedirect';
      requestRedirect: {
        scheme?: string;
        hostname?: string;
        port?: number;
        path?: { type: 'ReplaceFullPath'; replaceFullPath: string };
        statusCode?: number;
      };
    }
  | {
      type: 'URLRewrite';
      urlRewrite: {
        hostname?: string;
        path?:
          | { type: 'ReplaceFullPath'; replaceFullPath: string }
          | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };
      };
    }
  | {
      type: 'RequestMirror';
      requestMirror: { backendRef: Omit<BackendRef, 'weight' | 'filters'> };
    }
  | {
      type: 'CORS';
      cors: {
        allowOrigins?: string[];
        allowMethods?: string[];
        allowHeaders?: string[];
        exposeHeaders?: string[];
        allowCredentials?: boolean;
        maxAge?: number;
      };
    };

export interface GwRule {
  matches?: GwMatch[];
  filters?: GwFilter[];
  backendRefs?: BackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { attempts?: number; codes?: number[] };
}

export interface HTTPRouteObject {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'HTTPRoute';
  metadata: ObjectMeta;
  spec: { parentRefs: ParentRef[]; rules: GwRule[] };
}

/** Gateway API durations: `^([0-9]{1,5}(h|m|s|ms)){1,4}$`. */
export function gwDuration(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  const s = ms / 1000;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

export const GW_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
