/**
 * security.istio.io AuthorizationPolicy and PeerAuthentication (v1 and v1beta1
 * share one schema). These are strict: an unknown field is almost always a
 * typo in a security rule (`principal:` for `principals:`), and silently
 * ignoring it would widen or narrow access without anyone noticing.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { objectMeta, policyTargetRef, stringMap } from './common.js';

const SECURITY_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'] as const;

/** Istio's WorkloadSelector: matchLabels only. */
const workloadSelector = z.strictObject({ matchLabels: stringMap.default({}) });

function isIpOrCidr(s: string): boolean {
  const [addr, len, extra] = s.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (len === undefined) return true;
  if (!/^\d+$/.test(len)) return false;
  return Number(len) <= (family === 4 ? 32 : 128);
}

const ipBlocks = z.array(z.string().refine(isIpOrCidr, 'must be an IP or CIDR')).default([]);
const strings = z.array(z.string().min(1, 'must not be empty')).default([]);
const principals = z
  .array(
    z
      .string()
      .min(1, 'must not be empty')
      .refine(
        (p) => !p.startsWith('spiffe://'),
        'write principals without the spiffe:// scheme (e.g. cluster.local/ns/shop/sa/frontend); with it they never match',
      ),
  )
  .default([]);
/** Ports are strings in Istio's API; numbers are accepted too and normalised. */
const ports = z
  .array(
    z
      .union([z.number().int(), z.string()])
      .transform((v) => String(v))
      .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535, 'must be 1-65535'),
  )
  .default([]);

const source = z.strictObject({
  principals,
  notPrincipals: principals,
  requestPrincipals: strings,
  notRequestPrincipals: strings,
  namespaces: strings,
  notNamespaces: strings,
  serviceAccounts: strings,
  notServiceAccounts: strings,
  ipBlocks,
  notIpBlocks: ipBlocks,
  remoteIpBlocks: ipBlocks,
  notRemoteIpBlocks: ipBlocks,
  trustDomains: strings,
  notTrustDomains: strings,
});
export type AuthzSource = z.output<typeof source>;

const operation = z.strictObject({
  hosts: strings,
  notHosts: strings,
  ports,
  notPorts: ports,
  methods: strings,
  notMethods: strings,
  paths: strings,
  notPaths: strings,
});
export type AuthzOperation = z.output<typeof operation>;

const condition = z
  .strictObject({
    key: z.string().min(1, 'must not be empty'),
    values: z.array(z.string()).default([]),
    notValues: z.array(z.string()).default([]),
  })
  .refine((c) => c.values.length > 0 || c.notValues.length > 0, {
    message: 'needs values or notValues',
  });
export type AuthzCondition = z.output<typeof condition>;

const rule = z.strictObject({
  from: z.array(z.strictObject({ source })).default([]),
  to: z.array(z.strictObject({ operation })).default([]),
  when: z.array(condition).default([]),
});
export type AuthzRule = z.output<typeof rule>;

export const authorizationPolicySchema = z.object({
  apiVersion: z.enum(SECURITY_VERSIONS),
  kind: z.literal('AuthorizationPolicy'),
  metadata: objectMeta,
  spec: z
    .strictObject({
      selector: workloadSelector.optional(),
      targetRef: policyTargetRef.optional(),
      targetRefs: z.array(policyTargetRef).default([]),
      action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).default('ALLOW'),
      provider: z.strictObject({ name: z.string().min(1) }).optional(),
      rules: z.array(rule).default([]),
    })
    .default({ targetRefs: [], action: 'ALLOW', rules: [] })
    .transform((s) => {
      // The deprecated single targetRef is folded into targetRefs.
      const { targetRef, ...rest } = s;
      return { ...rest, targetRefs: targetRef ? [targetRef, ...s.targetRefs] : s.targetRefs };
    })
    .refine((s) => !(s.selector && s.targetRefs.length > 0), {
      message: 'selector and targetRefs are mutually exclusive',
      path: ['selector'],
    })
    .refine((s) => (s.action === 'CUSTOM') === (s.provider !== undefined), {
      message: 'provider is required with action CUSTOM and only allowed with it',
      path: ['provider'],
    }),
});

const mtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);
export type MtlsMode = z.output<typeof mtlsMode>;
const mtls = z.strictObject({ mode: mtlsMode.default('UNSET') });

export const peerAuthenticationSchema = z.object({
  apiVersion: z.enum(SECURITY_VERSIONS),
  kind: z.literal('PeerAuthentication'),
  metadata: objectMeta,
  spec: z
    .strictObject({
      selector: workloadSelector.optional(),
      mtls: mtls.optional(),
      portLevelMtls: z
        .record(
          z.string().regex(/^\d+$/, 'port keys must be numbers'),
          mtls.default({ mode: 'UNSET' }),
        )
        .default({}),
    })
    .default({ portLevelMtls: {} })
    .refine((s) => Object.keys(s.portLevelMtls).length === 0 || s.selector !== undefined, {
      message: 'portLevelMtls requires a workload selector',
      path: ['portLevelMtls'],
    }),
});
