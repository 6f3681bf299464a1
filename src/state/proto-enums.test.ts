import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as authz from '../gen/istio/security/authorization_pb.js';
import * as wl from '../gen/istio/workload/workload_pb.js';
import * as mirror from './proto-enums.js';

const generated: Record<keyof typeof mirror, Record<string, unknown>> = {
  WorkloadType: wl.WorkloadType,
  LoadBalancing_Scope: wl.LoadBalancing_Scope,
  LoadBalancing_Mode: wl.LoadBalancing_Mode,
  LoadBalancing_HealthPolicy: wl.LoadBalancing_HealthPolicy,
  TunnelProtocol: wl.TunnelProtocol,
  ApplicationTunnel_Protocol: wl.ApplicationTunnel_Protocol,
  WorkloadStatus: wl.WorkloadStatus,
  NetworkMode: wl.NetworkMode,
  IPFamilies: wl.IPFamilies,
  Scope: authz.Scope,
  Action: authz.Action,
};

test('mirrored xDS enum values equal the generated ones', () => {
  for (const [name, values] of Object.entries(mirror)) {
    const gen = generated[name as keyof typeof mirror];
    for (const [k, v] of Object.entries(values)) assert.equal(v, gen[k], `${name}.${k}`);
  }
});
