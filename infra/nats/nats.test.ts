/**
 * The NATS configurations wakegate ships, run on a real nats-server: compose's (rendered by its `secrets`
 * service) and Kubernetes' (the nats-config ConfigMap with the passwords in the environment). Each takes the
 * services with the passwords they are given and nobody else, under the permissions of
 * services/shared/nats/permissions.ts, of which infra/nats/authorization.conf must be the current rendering.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AUTHORIZATION_HEADER } from '../../scripts/nats-authorization.ts';
import { makeSecret } from '../../services/kube-secrets/index.ts';
import { NATS_READY } from '../../services/local/index.ts';
import {
  loadConfig,
  NATS_SERVICES,
  type NatsService,
  natsConfigSpec,
  natsPasswordVariable,
  natsUserOf,
  shippedNatsAuthorization,
  subjectFor,
} from '../../services/shared/index.ts';
import { runComposeSecrets } from '../../test/compose-secrets.ts';
import { kustomizeBuild } from '../../test/infra/kustomize-build.ts';
import { connectAsControl, connectAsService, refusedPublish } from '../../test/nats-as-service.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { freePort } from '../../test/ports.ts';

const root = join(import.meta.dirname, '..', '..');
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function serverWith(config: string, env: Record<string, string> = {}): Promise<NatsServerFixture> {
  const server = await startNatsServer({ config, env });
  cleanup.push(() => server.close());
  return server;
}

async function connectAs(server: NatsServerFixture, service: NatsService, password: string) {
  const nc = await connectAsService(server.url, service, password);
  cleanup.push(() => nc.close());
  return nc;
}

/** Anonymous and wrong-password clients are refused; each service connects with its own password. */
async function expectOnlyServices(server: NatsServerFixture, passwords: Record<NatsService, string>) {
  await expect(connect({ servers: server.url })).rejects.toThrow(/Authorization Violation/);
  await expect(
    connect({ servers: server.url, user: natsUserOf('scaler'), pass: passwords.bridge }),
  ).rejects.toThrow(/Authorization Violation/);
  for (const service of NATS_SERVICES) await connectAs(server, service, passwords[service]);
  // The users that answer control requests: the bridge's and the scaler's, with the same passwords.
  for (const service of ['bridge', 'scaler'] as const) {
    const control = await connectAsControl(server.url, service, passwords[service]);
    cleanup.push(() => control.close());
  }
  await expect(connectAsControl(server.url, 'watcher', passwords.watcher)).rejects.toThrow(
    /Authorization Violation/,
  );
  const bridge = await connectAs(server, 'bridge', passwords.bridge);
  expect(await refusedPublish(bridge, subjectFor('scaled', 'shop/api'))).toMatch(/Permissions Violation/);
}

describe('the shipped NATS configurations', () => {
  it('include the current rendering of the services permissions', async () => {
    expect(await readFile(join(root, 'infra/nats/authorization.conf'), 'utf8')).toBe(
      AUTHORIZATION_HEADER + shippedNatsAuthorization(),
    );
  });

  it("compose: `secrets` makes the services' passwords and a configuration that admits only them", async () => {
    const compose = parse(await readFile(join(root, 'compose.yaml'), 'utf8'));
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-compose-nats-'));
    await runComposeSecrets(dir);
    const server = await serverWith(join(dir, 'nats-config', 'nats.conf'));
    const passwords = {} as Record<NatsService, string>;
    /** Where a container's path is in `dir`: through the volume mounted above it, where `secrets` mounts it. */
    const inDir = (service: string, path: string) => {
      const mounts = (compose.services[service].volumes as string[]).map((v) => v.split(':'));
      const [volume, mountedAt] = mounts.find(([, at]) => path.startsWith(`${at}/`)) ?? [];
      const secretsMounts = (compose.services.secrets.volumes as string[]).map((v) => v.split(':'));
      const out = secretsMounts.find(([name]) => name === volume)?.[1] as string;
      expect(out.startsWith('/out/')).toBe(true);
      return join(dir, out.slice('/out/'.length), path.slice((mountedAt as string).length));
    };
    for (const service of NATS_SERVICES) {
      // The service's own environment in compose.yaml, its password file where its volume puts it.
      const environment = compose.services[service].environment as Record<string, string>;
      const config = loadConfig(natsConfigSpec, {
        NATS_USER: environment.NATS_USER,
        NATS_PASSWORD_FILE: inDir(service, environment.NATS_PASSWORD_FILE as string),
      });
      expect(config.natsUser).toBe(natsUserOf(service));
      passwords[service] = config.natsPassword as string;
    }
    await expectOnlyServices(server, passwords);
  });

  it('compose: NATS answers its monitoring (no credentials) on loopback only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-compose-nats-monitoring-'));
    await runComposeSecrets(dir);
    // compose.yaml's own command line, with the configuration and the store where this test has them, and
    // free ports for its clients and its monitoring (the monitoring's host is the configuration's).
    const compose = parse(await readFile(join(root, 'compose.yaml'), 'utf8'));
    const command = (compose.services.nats.command as string[]).map((arg) =>
      arg === '/etc/nats/wakegate/nats.conf'
        ? join(dir, 'nats-config', 'nats.conf')
        : arg === '/data'
          ? dir
          : arg,
    );
    const monitorPort = await freePort();
    const nats = spawn(
      'nats-server',
      [...command, '-p', String(await freePort()), '-m', String(monitorPort)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    cleanup.push(async () => {
      nats.kill('SIGKILL');
      if (nats.exitCode === null && nats.signalCode === null) await once(nats, 'exit');
    });
    let log = '';
    for await (const chunk of nats.stderr) {
      log += chunk;
      if (NATS_READY.test(log)) break;
    }
    const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as {
      http_host: string;
    };
    expect(varz.http_host).toBe('127.0.0.1');
    // The container's healthcheck asks there, at the port the configuration names.
    expect(compose.services.nats.healthcheck.test.join(' ')).toContain('http://127.0.0.1:8222/healthz');
    expect(await readFile(join(dir, 'nats-config', 'nats.conf'), 'utf8')).toMatch(
      /^http: "127\.0\.0\.1:8222"$/m,
    );
  });

  it('compose: passwords an earlier release kept in one volume are carried over, so its NATS still takes them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-compose-nats-upgrade-'));
    await mkdir(join(dir, 'earlier-passwords'), { recursive: true });
    const earlier = Object.fromEntries(NATS_SERVICES.map((service) => [service, makeSecret()])) as Record<
      NatsService,
      string
    >;
    for (const service of NATS_SERVICES)
      await writeFile(join(dir, 'earlier-passwords', service), earlier[service]);
    await runComposeSecrets(dir);
    for (const service of NATS_SERVICES)
      expect(await readFile(join(dir, 'nats-passwords', service, 'password'), 'utf8')).toBe(earlier[service]);
    await expectOnlyServices(await serverWith(join(dir, 'nats-config', 'nats.conf')), earlier);
  });

  it('Kubernetes: the nats-config ConfigMap, with the passwords in its environment, admits only the services', async () => {
    const build = kustomizeBuild(join(root, 'infra/k8s/base'));
    const configMap = build.resources.find(
      (r) => r.object.kind === 'ConfigMap' && r.object.metadata.name === 'nats-config',
    )?.object as unknown as { data: Record<string, string> };
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-k8s-nats-'));
    // Its own JetStream store and ports give way to the fixture's (a temp folder, free ports).
    for (const [file, content] of Object.entries(configMap.data))
      await writeFile(join(dir, file), content.replace(/jetstream \{[^}]*\}/, ''));
    // Made as the Secrets job makes them.
    const passwords = Object.fromEntries(NATS_SERVICES.map((service) => [service, makeSecret()])) as Record<
      NatsService,
      string
    >;
    const env = Object.fromEntries(
      NATS_SERVICES.map((service) => [natsPasswordVariable(service), passwords[service]]),
    );
    const server = await serverWith(join(dir, 'nats.conf'), { ...env, POD_NAME: 'nats-0' });
    await expectOnlyServices(server, passwords);
  });

  it('Kubernetes, three servers: the route port takes the other servers with the route password, and no one without', async () => {
    const build = kustomizeBuild(join(root, 'infra/k8s/overlays/nats-cluster'));
    const configMap = build.resources.find(
      (r) => r.object.kind === 'ConfigMap' && r.object.metadata.name === 'nats-config',
    )?.object as unknown as { data: Record<string, string> };
    // Made as the Secrets job makes them.
    const passwords = Object.fromEntries(NATS_SERVICES.map((service) => [service, makeSecret()])) as Record<
      NatsService,
      string
    >;
    const routePassword = makeSecret();
    const routePorts = [await freePort(), await freePort(), await freePort()];
    // The routes' URLs as the StatefulSet makes them, on this machine's ports instead of the headless names.
    const env: Record<string, string> = {
      ...Object.fromEntries(
        NATS_SERVICES.map((service) => [natsPasswordVariable(service), passwords[service]]),
      ),
      NATS_ROUTE_PASSWORD: routePassword,
      ...Object.fromEntries(
        routePorts.map((port, i) => [`NATS_ROUTE_${i}`, `nats://route:${routePassword}@127.0.0.1:${port}`]),
      ),
    };
    const servers: NatsServerFixture[] = [];
    for (const [i, port] of routePorts.entries()) {
      const dir = await mkdtemp(join(tmpdir(), 'wakegate-k8s-nats-cluster-'));
      for (const [file, content] of Object.entries(configMap.data))
        await writeFile(
          join(dir, file),
          content
            .replace(/jetstream \{[^}]*\}/, '')
            .replace('listen: 0.0.0.0:6222', `listen: 127.0.0.1:${port}`),
        );
      servers.push(await serverWith(join(dir, 'nats.conf'), { ...env, POD_NAME: `nats-${i}` }));
    }
    // A message crosses the routes: the scaler publishes on the third server, the bridge hears it on the first.
    const bridge = await connectAs(servers[0] as NatsServerFixture, 'bridge', passwords.bridge);
    const scaler = await connectAs(servers[2] as NatsServerFixture, 'scaler', passwords.scaler);
    const heard = bridge.subscribe(subjectFor('scaled', 'shop/api'), { max: 1 });
    await bridge.flush();
    const received = (async () => {
      for await (const _ of heard) return true;
      return false;
    })();
    const sending = setInterval(() => scaler.publish(subjectFor('scaled', 'shop/api'), '{}'), 50);
    try {
      expect(await received).toBe(true);
    } finally {
      clearInterval(sending);
    }
    // A server without the password (anyone's, started anywhere the port is reachable) is refused.
    expect(await routeConnectAnswer(routePorts[0] as number)).toBe("-ERR 'Authorization Violation'");
  });
});

/** What a server's route port answers a route that connects without credentials, as a rogue server would. */
function routeConnectAnswer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let received = '';
    let connected = false;
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (!connected && received.startsWith('INFO ') && received.includes('\r\n')) {
        connected = true;
        socket.write(
          'CONNECT {"verbose":false,"pedantic":false,"name":"rogue","cluster":"wakegate"}\r\nPING\r\n',
        );
      }
      const answer = received.split('\r\n').find((line) => line.startsWith('-ERR') || line === 'PONG');
      if (answer) {
        socket.destroy();
        resolve(answer);
      }
    });
  });
}
