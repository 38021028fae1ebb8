/**
 * Routes by path and header through the Kubernetes provider (issue 17), against the Kubernetes API double
 * and a real nats-server: HTTPRoute `rules[].matches` become the routes of the Deployments their rules send
 * to, in the same namespace or across one with a ReferenceGrant, and a route edit moves a path from one
 * backend's record to the other's while the watcher runs.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deploymentObject,
  type KubeApiServer,
  type KubeObject,
  referenceGrantObject,
  routeObject,
  serviceObject,
  startKubeApiServer,
} from '../../test/kube-api/index.ts';
import { kubeWatcher, useBackendsBucket } from '../../test/watcher/backends-bucket.ts';
import { watchBackends } from '../../test/watcher/watcher-output.ts';
import type { BackendSource } from '../providers/index.ts';
import { BACKENDS_BUCKET, createLogger } from '../shared/index.ts';
import type { Watcher } from './watcher.ts';

const logger = createLogger('route-matches-test', (process.env.TEST_LOG as 'info') ?? 'silent');

const bucket = useBackendsBucket('route-matches-test', logger);

type Rule = { backendRefs: { name: string; namespace?: string; port: number }[]; matches?: unknown[] };

/** An accepted HTTPRoute on shop.example.com with these rules. */
function httpRoute(name: string, rules: Rule[], namespace = 'shop'): KubeObject {
  const base = routeObject(name, ['shop.example.com'], [], namespace);
  return { ...base, spec: { ...(base.spec as object), rules } };
}

const to = (name: string, namespace?: string) => ({
  name,
  port: 80,
  ...(namespace === undefined ? {} : { namespace }),
});

describe('HTTPRoute matches as routes', () => {
  let api: KubeApiServer;
  let source: BackendSource | undefined;
  let watcher: Watcher | undefined;

  beforeEach(async () => {
    await (await jetstreamManager(bucket.nc)).streams.purge(`KV_${BACKENDS_BUCKET}`);
    api = await startKubeApiServer();
    for (const name of ['web', 'api']) {
      api.create(deploymentObject(name));
      api.create(serviceObject(name, name));
    }
  });
  afterEach(async () => {
    await watcher?.stop();
    await source?.close();
    await watcher?.done();
    watcher = undefined;
    source = undefined;
    await api.close();
  });

  async function startWatcher(): Promise<void> {
    ({ source, watcher } = await kubeWatcher(bucket, api, logger));
    watcher.start();
    await watcher.whenSynced();
  }

  it('gives /api (with its header variant) to the api Deployment and the rest of the host to web, and moves /api on a route edit', async () => {
    const route = httpRoute('shop', [
      {
        backendRefs: [to('api')],
        matches: [
          { path: { type: 'PathPrefix', value: '/api' } },
          { path: { type: 'Exact', value: '/health' }, headers: [{ name: 'X-Probe', value: 'lb' }] },
        ],
      },
      { backendRefs: [to('web')] },
    ]);
    api.create(route);
    const view = await watchBackends(bucket.kv);
    await startWatcher();
    await view.until((v) => (v.get('shop/api')?.routes?.length ?? 0) === 2 && v.has('shop/web'));
    expect(view.current.get('shop/api')).toMatchObject({
      hosts: [],
      routes: [
        { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/api' } },
        {
          host: 'shop.example.com',
          path: { type: 'Exact', value: '/health' },
          headers: [{ name: 'x-probe', value: 'lb' }],
        },
      ],
    });
    expect(view.current.get('shop/web')?.hosts).toEqual(['shop.example.com']);
    expect(view.current.get('shop/web')).not.toHaveProperty('routes');

    // The edit: /api now goes to web, /shop to api. The running watcher moves both.
    api.update(
      httpRoute('shop', [
        { backendRefs: [to('web')], matches: [{ path: { type: 'PathPrefix', value: '/api' } }] },
        { backendRefs: [to('api')], matches: [{ path: { type: 'PathPrefix', value: '/shop' } }] },
      ]),
    );
    await view.until((v) => v.get('shop/web')?.routes?.[0]?.path?.value === '/api');
    expect(view.current.get('shop/web')).toMatchObject({
      hosts: [],
      routes: [{ host: 'shop.example.com', path: { type: 'PathPrefix', value: '/api' } }],
    });
    await view.until((v) => v.get('shop/api')?.routes?.[0]?.path?.value === '/shop');
    expect(view.current.get('shop/api')?.routes).toEqual([
      { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/shop' } },
    ]);
    await view.stop();
  });

  it('takes a route of another namespace only where a ReferenceGrant permits it', async () => {
    api.create(deploymentObject('orders', { namespace: 'backend' }));
    api.create(serviceObject('orders', 'orders', { namespace: 'backend' }));
    api.create(
      httpRoute('shop', [
        {
          backendRefs: [to('orders', 'backend')],
          matches: [{ path: { type: 'PathPrefix', value: '/orders' } }],
        },
        { backendRefs: [to('web')] },
      ]),
    );
    const view = await watchBackends(bucket.kv);
    await startWatcher();
    await view.until((v) => v.has('shop/web') && v.has('backend/orders'));
    expect(view.current.get('backend/orders')).toMatchObject({ hosts: [] });
    expect(view.current.get('backend/orders')?.routes ?? []).toEqual([]);

    api.create(referenceGrantObject('from-shop', 'backend', 'shop', 'orders'));
    await view.until((v) => (v.get('backend/orders')?.routes?.length ?? 0) > 0);
    expect(view.current.get('backend/orders')?.routes).toEqual([
      { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/orders' } },
    ]);
    // The host's other paths stay with web, whose namespace holds it.
    expect(view.current.get('shop/web')?.hosts).toEqual(['shop.example.com']);
    await view.stop();
  });
});
