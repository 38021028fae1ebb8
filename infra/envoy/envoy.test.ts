/**
 * infra/envoy/envoy.yaml without an Envoy: the clusters it routes to exist, the wakegate filter sits before
 * the router, and the filter's configuration block is accepted by the filter itself, loaded from the built
 * .wasm in the proxy-wasm host (wasm-filter/host), as Envoy would configure it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DROP_CLIENT_HELD_MS } from '../../test/infra/early-header-mutation.ts';
import { envoyDurationMs, HOLD_MARGIN_MS, maxHoldOf } from '../../test/infra/envoy-timers.ts';
import { createPlugin, PluginStartError } from '../../wasm-filter/host/index.ts';

const root = join(import.meta.dirname, '../..');
const wasmPath = join(root, 'wasm-filter/build/wakegate.wasm');

interface HttpFilter {
  name: string;
  typed_config: Record<string, unknown> & { '@type': string };
}
interface Route {
  match: { prefix: string };
  route?: { cluster: string; timeout?: string; retry_policy?: { retry_on: string; num_retries: number } };
  direct_response?: unknown;
}
interface Manager {
  early_header_mutation_extensions?: unknown[];
  use_remote_address?: boolean;
  common_http_protocol_options?: { headers_with_underscores_action?: string };
  http2_protocol_options?: { max_concurrent_streams?: number };
  stream_idle_timeout?: string;
  request_timeout?: string;
  route_config: { virtual_hosts: { name: string; domains: string[]; routes: Route[] }[] };
  http_filters: HttpFilter[];
}
interface WasmFilterConfig {
  config: {
    name: string;
    fail_open?: boolean;
    configuration: { '@type': string; value: string };
    vm_config: { runtime: string; code: { local: { filename: string } } };
  };
}

let envoy: {
  admin: { address: { socket_address: { address: string; port_value: number } } };
  overload_manager?: {
    resource_monitors: { name: string }[];
    actions: { name: string; triggers: { name: string; threshold: { value: number } }[] }[];
  };
  static_resources: {
    listeners: {
      per_connection_buffer_limit_bytes?: number;
      filter_chains: { filters: { name: string; typed_config: Manager }[] }[];
    }[];
    clusters: { name: string; per_connection_buffer_limit_bytes?: number }[];
  };
};
let manager: Manager;
let wasm: WasmFilterConfig['config'];

beforeAll(async () => {
  envoy = parse(await readFile(join(root, 'infra/envoy/envoy.yaml'), 'utf8'));
  const filter = envoy.static_resources.listeners[0]?.filter_chains[0]?.filters[0];
  expect(filter?.name).toBe('envoy.filters.network.http_connection_manager');
  manager = filter?.typed_config as Manager;
  const wasmFilter = manager.http_filters.find((f) => f.name === 'envoy.filters.http.wasm');
  if (!wasmFilter) throw new Error('no envoy.filters.http.wasm in the HTTP filter chain');
  wasm = (wasmFilter.typed_config as unknown as WasmFilterConfig).config;
});

const clusterNames = () => envoy.static_resources.clusters.map((cluster) => cluster.name);

describe('envoy.yaml', () => {
  it('routes only to clusters it defines, and defines none it never uses', () => {
    const routed = manager.route_config.virtual_hosts.flatMap((host) =>
      host.routes.flatMap((route) => (route.route ? [route.route.cluster] : [])),
    );
    const filterCluster = (JSON.parse(wasm.configuration.value) as { bridge_cluster: string }).bridge_cluster;
    for (const name of [...routed, filterCluster]) expect(clusterNames()).toContain(name);
    expect(new Set([...routed, filterCluster])).toEqual(new Set(clusterNames()));
    expect(new Set(clusterNames()).size).toBe(clusterNames().length);
  });

  it('runs the wakegate filter before the router, in V8, from the file compose.yaml mounts', async () => {
    expect(manager.http_filters.map((f) => f.name)).toEqual([
      'envoy.filters.http.wasm',
      'envoy.filters.http.router',
    ]);
    expect(wasm.vm_config.runtime).toBe('envoy.wasm.runtime.v8');
    expect(wasm.configuration['@type']).toBe('type.googleapis.com/google.protobuf.StringValue');
    const compose = parse(await readFile(join(root, 'compose.yaml'), 'utf8'));
    const mount = (compose.services.envoy.volumes as string[]).find((volume) => volume.startsWith('wasm:'));
    const mountedAt = mount?.split(':')[1] as string;
    expect(wasm.vm_config.code.local.filename).toBe(`${mountedAt}/wakegate.wasm`);
    expect(compose.services.wasm.command).toEqual([
      'cp',
      'wasm-filter/build/wakegate.wasm',
      '/out/wakegate.wasm',
    ]);
  });

  it('lets requests past a trapped filter (fail_open), as the local gateway and the overlays do', () => {
    // The Wasm filter's own switch, not the plugin configuration's field of the same name.
    expect(wasm.fail_open).toBe(true);
  });

  it('gives the filter a configuration the filter itself accepts', async () => {
    const plugin = await createPlugin({
      module: wasmPath,
      name: wasm.name,
      configuration: wasm.configuration.value,
      clusters: clusterNames(),
    });
    plugin.close();

    // The same check refuses a configuration the filter would refuse in Envoy, naming the field.
    const misspelled = wasm.configuration.value.replace('"max_wait_ms"', '"max_wait"');
    const refused = createPlugin({ module: wasmPath, configuration: misspelled, clusters: clusterNames() });
    await expect(refused).rejects.toBeInstanceOf(PluginStartError);
    await expect(refused).rejects.toThrow('max_wait');
  });

  it("sets Envoy's stream timers explicitly, above the filter's max_hold_ms, and every route's timeout", () => {
    const maxHold = maxHoldOf(JSON.parse(wasm.configuration.value));
    expect(maxHold).toBe(300_000);
    // Both run during the hold; a missing field would mean Envoy's default (5 min idle, no request timeout).
    expect(envoyDurationMs(manager.stream_idle_timeout)).toBeGreaterThanOrEqual(maxHold + HOLD_MARGIN_MS);
    expect(envoyDurationMs(manager.request_timeout)).toBeGreaterThanOrEqual(maxHold + HOLD_MARGIN_MS);
    const routes = manager.route_config.virtual_hosts.flatMap((host) => host.routes.filter((r) => r.route));
    expect(routes.length).toBeGreaterThan(0);
    // Started after the release: set, not left to the 15 s default, and not 0 (no bound at all).
    for (const r of routes) expect(envoyDurationMs(r.route?.timeout)).toBeGreaterThan(0);
  });

  it('retries a released request whose connection the just-woken backend refused, on every route', () => {
    const routes = manager.route_config.virtual_hosts.flatMap((host) => host.routes.filter((r) => r.route));
    expect(routes.length).toBe(4);
    for (const route of routes) {
      const policy = route.route?.retry_policy;
      expect(policy?.retry_on.split(',')).toEqual(
        expect.arrayContaining(['connect-failure', 'refused-stream']),
      );
      expect(policy?.num_retries).toBeGreaterThan(0);
    }
  });

  it('proxies WebSocket upgrades and gives long streams (WebSocket, SSE, gRPC) route and idle timeouts of 1 h', () => {
    expect((manager as unknown as { upgrade_configs: unknown }).upgrade_configs).toEqual([
      { upgrade_type: 'websocket' },
    ]);
    const hosts = manager.route_config.virtual_hosts;
    const demo = hosts.find((host) => host.name === 'demo')?.routes ?? [];
    const grpc = hosts.find((host) => host.name === 'grpc-demo')?.routes ?? [];
    const long = [demo[0], demo[1], grpc[0]].map(
      (r) => r?.route as { timeout?: string; idle_timeout?: string } | undefined,
    );
    for (const r of long) {
      expect(envoyDurationMs(r?.timeout)).toBe(3_600_000);
      expect(envoyDurationMs(r?.idle_timeout)).toBe(3_600_000);
    }
    expect(grpc[0]?.route?.cluster).toBe('grpc_demo');
    const cluster = envoy.static_resources.clusters.find((c) => c.name === 'grpc_demo') as unknown as {
      typed_extension_protocol_options: Record<string, { explicit_http_config: unknown }>;
    };
    expect(
      cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']
        ?.explicit_http_config,
    ).toEqual({ http2_protocol_options: {} });
  });

  it("drops a client's x-wakegate-held-ms as the request arrives, before the filter sets its own", () => {
    expect(manager.early_header_mutation_extensions).toEqual(DROP_CLIENT_HELD_MS);
  });

  it('sets edge limits: buffers, HTTP/2 streams, headers, connections and heap', () => {
    const listener = envoy.static_resources.listeners[0];
    expect(listener?.per_connection_buffer_limit_bytes).toBeLessThanOrEqual(1024 * 1024);
    for (const cluster of envoy.static_resources.clusters)
      expect(cluster.per_connection_buffer_limit_bytes, cluster.name).toBeLessThanOrEqual(1024 * 1024);
    expect(manager.http2_protocol_options?.max_concurrent_streams).toBeLessThanOrEqual(1000);
    expect(manager.common_http_protocol_options?.headers_with_underscores_action).toBe('REJECT_REQUEST');
    expect(manager.use_remote_address).toBe(true);
    const overload = envoy.overload_manager;
    const monitors = overload?.resource_monitors.map((m) => m.name) ?? [];
    expect(monitors).toContain('envoy.resource_monitors.global_downstream_max_connections');
    expect(monitors).toContain('envoy.resource_monitors.fixed_heap');
    const stop = overload?.actions.find((a) => a.name === 'envoy.overload_actions.stop_accepting_requests');
    expect(stop?.triggers[0]?.name).toBe('envoy.resource_monitors.fixed_heap');
    expect(stop?.triggers[0]?.threshold.value).toBeLessThan(1);
  });

  it('answers unknown hosts itself and keeps the admin API on localhost', () => {
    const fallback = manager.route_config.virtual_hosts.find((host) => host.domains.includes('*'));
    expect(fallback?.routes[0]?.direct_response).toMatchObject({ status: 404 });
    expect(envoy.admin.address.socket_address.address).toBe('127.0.0.1');
  });
});
