// The Secrets job against the Kubernetes API double, with only the rules its ServiceAccount has in the
// manifests (a call outside them is answered 403, as by kube-apiserver).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { serviceAccountRbac } from '../../test/rbac.ts';
import { createLogger } from '../shared/index.ts';
import { ensureSecrets, makeSecret } from './ensure-secrets.ts';
import { BRIDGE_TOKEN_SECRET, NATS_PASSWORDS_SECRET, natsRefuses } from './plan.ts';
import { SecretStore } from './secret-store.ts';

const logger = createLogger('kube-secrets-test', 'silent');
// The Istio overlay: the job also keeps a copy of the token in the Gateway's namespace.
const EDGE = 'wakegate-edge';

let api: KubeApiServer;
/** The calls a test expects to be refused (verb, namespace); any other refusal fails it. */
let refusals: [string, string | undefined][];
beforeEach(async () => {
  api = await startKubeApiServer({ rbac: serviceAccountRbac('wakegate-secrets', 'istio') });
  refusals = [];
});
afterEach(async () => {
  expect(api.refused.map((r) => [r.verb, r.namespace])).toEqual(refusals);
  await api.close();
});

function run(store = new SecretStore(api.kubeConfig())) {
  return ensureSecrets({ store, home: 'wakegate', tokenNamespaces: [EDGE], logger });
}

/** Stores whose writes wait until every one of them has read everything: their plans are made from the same
 * state, as two Job pods starting together would make them. */
function racingStores(count: number): SecretStore[] {
  const readsEach = 3;
  let reads = 0;
  let allRead: () => void = () => {};
  const everyoneRead = new Promise<void>((resolve) => {
    allRead = resolve;
  });
  class RacingStore extends SecretStore {
    override async read(namespace: string, name: string) {
      const found = await super.read(namespace, name);
      if (++reads === count * readsEach) allRead();
      return found;
    }
    override async write(write: Parameters<SecretStore['write']>[0]) {
      await everyoneRead;
      return super.write(write);
    }
  }
  return Array.from({ length: count }, () => new RacingStore(api.kubeConfig()));
}

/** A Secret's values as the API server stores them. */
function values(namespace: string, name: string): Record<string, string> | undefined {
  const data = api.get('secrets', namespace, name)?.data as Record<string, string> | undefined;
  if (!data) return undefined;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
}

function secret(namespace: string, name: string, data: Record<string, string>) {
  api.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });
}

describe('makeSecret', () => {
  it('makes secrets nats-server reads as they are, never a number or a date', () => {
    for (let i = 0; i < 1000; i++) expect(natsRefuses(makeSecret())).toBe(false);
  });
});

describe('ensureSecrets', () => {
  it('makes a strong token, a NATS password per service and one for the NATS routes, copies the token to the gateway namespace, and changes nothing when run again', async () => {
    await run();
    const token = values('wakegate', BRIDGE_TOKEN_SECRET)?.token;
    expect(token).toMatch(/^w[A-Za-z0-9_-]{43}$/);
    expect(values(EDGE, BRIDGE_TOKEN_SECRET)).toEqual({ token });
    const passwords = values('wakegate', NATS_PASSWORDS_SECRET) ?? {};
    expect(Object.keys(passwords).sort()).toEqual(['bridge', 'route', 'scaler', 'watcher']);
    for (const password of Object.values(passwords)) expect(password).toMatch(/^w[A-Za-z0-9_-]{43}$/);
    expect(new Set([token, ...Object.values(passwords)]).size).toBe(5);
    const versions = () =>
      [
        api.get('secrets', 'wakegate', BRIDGE_TOKEN_SECRET),
        api.get('secrets', EDGE, BRIDGE_TOKEN_SECRET),
        api.get('secrets', 'wakegate', NATS_PASSWORDS_SECRET),
      ].map((s) => s?.metadata?.resourceVersion);
    const before = versions();
    expect(await run()).toEqual([]);
    expect(versions()).toEqual(before);
  });

  it('keeps what an operator set, fills what is empty, and carries a rotated token to the gateway copy', async () => {
    secret('wakegate', BRIDGE_TOKEN_SECRET, { token: 'the-operators-new-token', previous: 'the-old-token' });
    secret('wakegate', NATS_PASSWORDS_SECRET, { bridge: 'kept', watcher: '' });
    secret(EDGE, BRIDGE_TOKEN_SECRET, { token: 'the-old-token' });
    await run();
    expect(values('wakegate', BRIDGE_TOKEN_SECRET)).toEqual({
      token: 'the-operators-new-token',
      previous: 'the-old-token',
    });
    expect(values(EDGE, BRIDGE_TOKEN_SECRET)).toEqual({ token: 'the-operators-new-token' });
    const passwords = values('wakegate', NATS_PASSWORDS_SECRET);
    expect(passwords?.bridge).toBe('kept');
    expect(passwords?.watcher).toMatch(/^w[A-Za-z0-9_-]{43}$/);
    expect(passwords?.scaler).toMatch(/^w[A-Za-z0-9_-]{43}$/);
  });

  it('ends with one token everywhere when two runs race (a retried Job pod): the loser reads again', async () => {
    await Promise.all(racingStores(2).map((store) => run(store)));
    const token = values('wakegate', BRIDGE_TOKEN_SECRET)?.token;
    expect(token).toMatch(/^w[A-Za-z0-9_-]{43}$/);
    expect(values(EDGE, BRIDGE_TOKEN_SECRET)?.token).toBe(token);
    // Both planned from nothing and created the token; the loser was answered 409 AlreadyExists and planned
    // again from what the winner wrote.
    const tokenCreates = api.requests.filter((r) => r.verb === 'create' && r.namespace === 'wakegate');
    expect(tokenCreates.length).toBeGreaterThanOrEqual(3);
  });

  it("makes wakegate's own Secrets when a gateway namespace's copy cannot be written, then stops with its error", async () => {
    // A Secret of that name its namespace's owner made immutable, or of another type: every write refused.
    api.failNext({ verb: 'create', namespace: 'wakegate-edge', resource: 'secrets' }, 422, { times: 10 });
    api.failNext({ verb: 'update', namespace: 'wakegate-edge', resource: 'secrets' }, 422, { times: 10 });
    await expect(
      ensureSecrets({
        store: new SecretStore(api.kubeConfig()),
        home: 'wakegate',
        tokenNamespaces: ['wakegate-edge'],
        logger,
      }),
    ).rejects.toMatchObject({ code: 422 });
    expect(
      api
        .list('secrets', 'wakegate')
        .map((s) => s.metadata?.name)
        .sort(),
    ).toEqual([BRIDGE_TOKEN_SECRET, NATS_PASSWORDS_SECRET]);
  });

  it('stops with the API error when it may not write the copy (a gateway namespace without its Role)', async () => {
    await expect(
      ensureSecrets({
        store: new SecretStore(api.kubeConfig()),
        home: 'wakegate',
        tokenNamespaces: ['some-tenant'],
        logger,
      }),
    ).rejects.toMatchObject({ code: 403 });
    refusals = [['get', 'some-tenant']];
  });

  it("may read no other Secret, even in its own namespace (the Role names wakegate's own)", async () => {
    secret('wakegate', 'a-tenants-database-password', { password: 'hunter2' });
    await expect(
      new SecretStore(api.kubeConfig()).read('wakegate', 'a-tenants-database-password'),
    ).rejects.toMatchObject({
      code: 403,
    });
    refusals = [['get', 'wakegate']];
  });
});
