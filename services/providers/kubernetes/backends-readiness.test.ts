/**
 * Readiness a stale informer cannot fake (issue 20, items 2 and 3): ready needs the Deployment to want at
 * least one replica and to have a ready one, whatever the EndpointSlices (whose informer may be relisting
 * from its cache) still list; and the record carries the Deployment's generation and observed generation,
 * so every scale yields a new record and the bridge can tell one that observed a scale, with the uid of the
 * Deployment object they are of (one deleted and created again starts again at generation 1).
 */
import type { V1Deployment, V1EndpointConditions, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { computeBackends } from '../../../test/kube-backends.ts';
import { isServing } from './backends.ts';

function deployment(
  replicas: number,
  readyReplicas: number | undefined,
  generation = 7,
  observedGeneration = generation - 1,
): V1Deployment {
  return {
    metadata: { name: 'web', namespace: 'shop', generation, labels: { 'wakegate.dev/enabled': 'true' } },
    spec: { replicas, selector: {}, template: { metadata: { labels: { app: 'web' } } } },
    status: { observedGeneration, ...(readyReplicas === undefined ? {} : { readyReplicas }) },
  };
}
const service: V1Service = {
  metadata: { name: 'web', namespace: 'shop' },
  spec: { selector: { app: 'web' } },
};
/** An EndpointSlice still listing the old pod as ready (an informer relisting from its cache). */
const cachedSlice: V1EndpointSlice = {
  addressType: 'IPv4',
  metadata: { name: 'web-abcde', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
  ports: [{ name: 'http', port: 8080 }],
  endpoints: [
    {
      addresses: ['10.0.0.2'],
      conditions: { ready: true },
      targetRef: { kind: 'Pod', name: 'web-7d9f8c6b5-x2x9q' },
    },
  ],
};
const backendOf = (d: V1Deployment, withService = true) =>
  computeBackends({
    deployments: [d],
    services: withService ? [service] : [],
    endpointSlices: withService ? [cachedSlice] : [],
    httpRoutes: [],
  })[0]?.backend;

describe('computeBackends: readiness needs replicas', () => {
  it('is not ready after a scale to zero while the endpoints still list a ready pod', () => {
    // The Deployment informer saw the scale; the status has not caught up and the slice is cached.
    expect(backendOf(deployment(0, 1))).toMatchObject({ ready: false, replicas: 0 });
  });

  it('is not ready without a ready replica even while the endpoints list a ready pod', () => {
    expect(backendOf(deployment(1, 0))?.ready).toBe(false);
    expect(backendOf(deployment(1, undefined))?.ready).toBe(false);
    expect(backendOf(deployment(1, 1))?.ready).toBe(true);
  });

  it('is not ready without a Service when no replica is wanted, whatever the stale status says', () => {
    expect(backendOf(deployment(0, 1), false)?.ready).toBe(false);
    expect(backendOf(deployment(2, 1, 7, 7), false)?.ready).toBe(true);
  });

  it('without a Service, counts ready replicas only from a status that observed the current generation', () => {
    expect(backendOf(deployment(1, 1, 7, 6), false)?.ready).toBe(false);
    expect(backendOf({ ...deployment(1, 1, 7, 7), status: { readyReplicas: 1 } }, false)?.ready).toBe(false);
    expect(backendOf(deployment(1, 1, 7, 7), false)?.ready).toBe(true);
    expect(backendOf(deployment(1, 1, 7, 8), false)?.ready).toBe(true);
    // With a Service, the endpoints say which pods serve, whatever the status observed.
    expect(backendOf(deployment(1, 1, 7, 6))?.ready).toBe(true);
  });

  it("carries the Deployment's generation and observed generation", () => {
    expect(backendOf(deployment(1, 1, 9))).toMatchObject({ generation: 9, observedGeneration: 8 });
  });

  it('carries the uid of the Deployment object beside its generations, and none when the object has none', () => {
    const uid = '0b6c9e2d-5a41-4f7e-9d38-c1a2b3d4e5f6';
    const withUid = deployment(1, 1, 1, 1);
    withUid.metadata = { ...withUid.metadata, uid };
    expect(backendOf(withUid)).toMatchObject({ generation: 1, observedGeneration: 1, uid });
    expect(backendOf(deployment(1, 1, 1, 1))).not.toHaveProperty('uid');
  });
});

describe('computeBackends: which endpoints serve', () => {
  const withConditions = (conditions: V1EndpointConditions | undefined) =>
    computeBackends({
      deployments: [deployment(1, 1)],
      services: [service],
      endpointSlices: [
        { ...cachedSlice, endpoints: [{ ...(cachedSlice.endpoints?.[0] as object), conditions } as never] },
      ],
      httpRoutes: [],
    })[0]?.backend.ready;

  it('counts an endpoint serving and not terminating, whatever ready says', () => {
    expect(withConditions({ ready: true, serving: true, terminating: false })).toBe(true);
    // publishNotReadyAddresses: ready forced true for a pod starting, failing its probe, or terminating.
    expect(withConditions({ ready: true, serving: false, terminating: false })).toBe(false);
    expect(withConditions({ ready: true, serving: true, terminating: true })).toBe(false);
    // A terminating pod still serving its last requests.
    expect(withConditions({ ready: false, serving: true, terminating: true })).toBe(false);
  });

  it('reads ready where serving is absent, and nil conditions as the API defines them', () => {
    expect(withConditions({ ready: true })).toBe(true);
    expect(withConditions({ ready: false })).toBe(false);
    expect(withConditions({ ready: true, terminating: true })).toBe(false);
    expect(withConditions({})).toBe(true);
    expect(withConditions(undefined)).toBe(true);
    expect(isServing({ serving: true, ready: false })).toBe(true);
  });
});
