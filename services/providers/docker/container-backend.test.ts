import { describe, expect, it } from 'vitest';
import {
  assembleBackends,
  type ContainerFacts,
  describeContainer,
  factsFromInspect,
  type InspectedContainer,
  networkOwnerOf,
} from './container-backend.ts';

function facts(overrides: Partial<ContainerFacts> = {}): ContainerFacts {
  return {
    containerId: 'c1',
    containerName: '/shop-web-1',
    labels: {
      'wakegate.enable': 'true',
      'com.docker.compose.project': 'shop',
      'com.docker.compose.service': 'web',
    },
    running: true,
    health: 'none',
    startedAt: '2026-01-01T00:00:00Z',
    address: '172.18.0.5',
    exposedPorts: [],
    ...overrides,
  };
}

function described(input: ContainerFacts) {
  const result = describeContainer(input);
  if (!result.ok) throw new Error(result.reason);
  return result.backend;
}

describe('describeContainer', () => {
  it('takes the id from the compose labels, else docker/<container name>', () => {
    expect(described(facts()).id).toBe('shop/web');
    expect(described(facts({ labels: { 'wakegate.enable': 'true' } })).id).toBe('docker/shop-web-1');
  });

  it('rejects a container whose id breaks the naming rules, naming the rule', () => {
    const result = describeContainer(facts({ labels: { 'com.docker.compose.project': 'my_app' } }));
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('namespace contains "_"') });
  });

  it('reads the strategy and no-wake labels into the config', () => {
    const labels = {
      ...facts().labels,
      'wakegate.strategy': 'page',
      'wakegate.no-wake': 'kube-probe/,/ping',
    };
    expect(described(facts({ labels })).config).toMatchObject({
      strategy: 'page',
      noWake: ['kube-probe/', '/ping'],
    });
  });

  it('builds the probe URL from wakegate.port, or the single exposed TCP port', () => {
    const labels = { ...facts().labels, 'wakegate.probe-path': '/healthz' };
    expect(described(facts({ labels: { ...labels, 'wakegate.port': '8080' } })).probeUrl).toBe(
      'http://172.18.0.5:8080/healthz',
    );
    expect(described(facts({ labels, exposedPorts: ['9000/tcp', '53/udp'] })).probeUrl).toBe(
      'http://172.18.0.5:9000/healthz',
    );
    expect(described(facts({ labels, address: 'fd00::5', exposedPorts: ['9000/tcp'] })).probeUrl).toBe(
      'http://[fd00::5]:9000/healthz',
    );
    // A gRPC container's probe speaks h2c: its URL says so.
    const h2c = { ...labels, 'wakegate.probe-protocol': 'h2c', 'wakegate.port': '3101' };
    expect(described(facts({ labels: h2c })).probeUrl).toBe('h2c://172.18.0.5:3101/healthz');
  });

  it('drops a probe path it cannot reach and says why', () => {
    const backend = described(
      facts({
        labels: { ...facts().labels, 'wakegate.probe-path': '/healthz' },
        exposedPorts: ['1/tcp', '2/tcp'],
      }),
    );
    expect(backend.config.probePath).toBeUndefined();
    expect(backend.problems).toEqual([expect.objectContaining({ setting: 'probe-path' })]);

    const badPort = described(facts({ labels: { ...facts().labels, 'wakegate.port': '70000' } }));
    expect(badPort.problems).toEqual([expect.objectContaining({ setting: 'port', value: '70000' })]);
  });

  it('keeps a running container without an address unprobed and not ready, and says why', () => {
    const labels = { ...facts().labels, 'wakegate.probe-path': '/healthz', 'wakegate.port': '8080' };
    const running = described(facts({ labels, address: undefined }));
    expect([running.probeUrl, running.config.probePath]).toEqual([undefined, '/healthz']);
    expect(running.problems).toEqual([
      expect.objectContaining({ setting: 'probe-path', reason: expect.stringContaining('no address') }),
    ]);
    // A stopped container has none: nothing to say.
    expect(described(facts({ labels, address: undefined, running: false })).problems).toEqual([]);
  });

  it('counts a container healthy only when running and its healthcheck (if any) passes', () => {
    expect(described(facts({ health: 'none' })).healthy).toBe(true);
    expect(described(facts({ health: 'healthy' })).healthy).toBe(true);
    expect(described(facts({ health: 'starting' })).healthy).toBe(false);
    expect(described(facts({ health: 'unhealthy' })).healthy).toBe(false);
    expect(described(facts({ running: false })).healthy).toBe(false);
  });
});

describe('factsFromInspect', () => {
  const inspected: InspectedContainer = {
    Id: 'abc',
    Name: '/web',
    State: { Running: true, StartedAt: 't', Health: { Status: 'healthy' } },
    Config: { Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} } },
    HostConfig: { NetworkMode: 'bridge' },
    NetworkSettings: {
      Networks: { z: { IPAddress: '10.0.0.9' }, a: { IPAddress: '' }, b: { IPAddress: '10.0.0.2' } },
    },
  };

  it('reads the address of the first network with one, or loopback on the host network', () => {
    expect(factsFromInspect(inspected).address).toBe('10.0.0.2');
    expect(factsFromInspect({ ...inspected, HostConfig: { NetworkMode: 'host' } }).address).toBe('127.0.0.1');
    expect(factsFromInspect({ ...inspected, NetworkSettings: { Networks: null } }).address).toBeUndefined();
  });

  it("takes the address of the container whose network it shares, and an IPv6-only network's", () => {
    const sharing: InspectedContainer = {
      ...inspected,
      HostConfig: { NetworkMode: 'container:0123abcd' },
      NetworkSettings: { Networks: {} },
    };
    expect(networkOwnerOf(sharing)).toBe('0123abcd');
    expect(factsFromInspect(sharing, inspected).address).toBe('10.0.0.2');
    expect(factsFromInspect(sharing, { ...inspected, HostConfig: { NetworkMode: 'host' } }).address).toBe(
      '127.0.0.1',
    );
    // The owner gone (removed meanwhile): no address, as it has none.
    expect(factsFromInspect(sharing, undefined).address).toBeUndefined();
    const v6: InspectedContainer = {
      ...inspected,
      NetworkSettings: { Networks: { v6only: { IPAddress: '', GlobalIPv6Address: 'fd00::7' } } },
    };
    expect(factsFromInspect(v6).address).toBe('fd00::7');
  });

  it('treats a paused container as not running', () => {
    expect(factsFromInspect(inspected)).toMatchObject({ running: true, health: 'healthy' });
    expect(factsFromInspect({ ...inspected, State: { ...inspected.State, Paused: true } }).running).toBe(
      false,
    );
  });
});

describe('assembleBackends', () => {
  it('makes one backend of the containers of one service, counting running and ready ones', () => {
    const a = described(facts({ containerId: 'a', containerName: '/shop-web-2', health: 'starting' }));
    const b = described(
      facts({
        containerId: 'b',
        containerName: '/shop-web-1',
        labels: { ...facts().labels, 'wakegate.hosts': 'shop.example' },
      }),
    );
    const c = described(facts({ containerId: 'c', containerName: '/shop-web-3', running: false }));
    const other = described(facts({ containerId: 'd', labels: { 'wakegate.enable': 'true' } }));
    expect(assembleBackends([a, b, c, other], () => false)).toEqual([
      expect.objectContaining({ id: 'docker/shop-web-1', ready: true, replicas: 1, readyReplicas: 1 }),
      expect.objectContaining({
        id: 'shop/web',
        hosts: ['shop.example'],
        ready: true,
        replicas: 2,
        readyReplicas: 1,
      }),
    ]);
  });

  it('holds readiness back until the probe passed when a probe path is set', () => {
    const probed = described(
      facts({ labels: { ...facts().labels, 'wakegate.probe-path': '/ready', 'wakegate.port': '80' } }),
    );
    expect(assembleBackends([probed], () => false)[0]?.ready).toBe(false);
    expect(assembleBackends([probed], () => true)[0]?.ready).toBe(true);
  });
});

describe('the wakegate.routes label', () => {
  it('gives the backend its routes, beside its hosts', () => {
    const labels = {
      ...facts().labels,
      'wakegate.hosts': 'shop.localhost',
      'wakegate.routes': 'shop.localhost/api, shop.localhost/healthz exact header:x-probe=lb',
    };
    const [backend] = assembleBackends([described(facts({ labels }))], () => true);
    expect(backend?.hosts).toEqual(['shop.localhost']);
    expect(backend?.routes).toEqual([
      { host: 'shop.localhost', path: { type: 'PathPrefix', value: '/api' } },
      {
        host: 'shop.localhost',
        path: { type: 'Exact', value: '/healthz' },
        headers: [{ name: 'x-probe', value: 'lb' }],
      },
    ]);
  });

  it('reports a malformed label as a problem and takes no route from it', () => {
    const labels = { ...facts().labels, 'wakegate.routes': 'shop.localhost exact' };
    const backend = described(facts({ labels }));
    expect(backend.routes).toEqual([]);
    expect(backend.problems).toEqual([
      {
        setting: 'routes',
        value: 'shop.localhost exact',
        reason: expect.stringContaining('exact needs a path'),
      },
    ]);
    expect(assembleBackends([backend], () => true)[0]).not.toHaveProperty('routes');
  });
});
