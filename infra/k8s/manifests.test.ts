import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { natsUsersHash } from '../../scripts/nats-authorization.ts';
import { BRIDGE_NODE_FLAGS, bridgeConfigSpec } from '../../services/bridge/index.ts';
import { ensureSecrets, SecretStore, secretsConfigSpec } from '../../services/kube-secrets/index.ts';
import { SCALER_NODE_FLAGS } from '../../services/scaler/index.ts';
import {
  createLogger,
  drainSpec,
  loadConfig,
  logConfigSpec,
  natsConfigSpec,
  natsPasswordVariable,
  natsUserOf,
  parseBackendSettings,
  portSpec,
  providerConfigSpec,
  SETTING_NAMES,
  shippedNatsAuthorization,
} from '../../services/shared/index.ts';
import { WATCHER_NODE_FLAGS, watcherConfigSpec } from '../../services/watcher/index.ts';
import { containerEnvironment, ENVOY_GATEWAY_NAMESPACE, gatewayTokenPath } from '../../test/gateway-token.ts';
import { DROP_CLIENT_HELD_MS } from '../../test/infra/early-header-mutation.ts';
import {
  envoyDurationMs,
  gatewayDurationMs,
  HOLD_MARGIN_MS,
  maxHoldOf,
} from '../../test/infra/envoy-timers.ts';
import {
  type Build,
  type KubeObject,
  KustomizeError,
  kustomizeBuild,
} from '../../test/infra/kustomize-build.ts';
import { ManifestError, validateManifest } from '../../test/infra/manifest-models.ts';
import { startKubeApiServer } from '../../test/kube-api/index.ts';
import { rulesOf } from '../../test/rbac.ts';
import { filterWasmPath } from '../../wasm-filter/build.ts';
import {
  createPlugin,
  type HttpCallRequest,
  ManualClock,
  PluginStartError,
  type VmEnvironmentConfig,
} from '../../wasm-filter/host/index.ts';

const K8S = path.dirname(fileURLToPath(import.meta.url));
const BUILDS = [
  'base',
  'overlays/nats-cluster',
  'overlays/namespaced',
  'overlays/observability',
  'istio',
  'envoy-gateway',
  'examples',
] as const;
type BuildName = (typeof BUILDS)[number];

const cache = new Map<string, Build>();
function build(name: BuildName): Build {
  let built = cache.get(name);
  if (!built) {
    built = kustomizeBuild(path.join(K8S, name));
    cache.set(name, built);
  }
  return built;
}

type Json = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML; the tests assert their shape.
type Any = any;

function find(name: BuildName, kind: string, objectName: string, namespace?: string): Any {
  const found = build(name).resources.find(
    (r) =>
      r.object.kind === kind &&
      r.object.metadata.name === objectName &&
      (namespace === undefined || r.object.metadata.namespace === namespace),
  );
  if (!found) throw new Error(`${name}: no ${kind} ${namespace ?? '*'}/${objectName}`);
  return found.object;
}

function all(name: BuildName, kind: string): Any[] {
  return build(name)
    .resources.filter((r) => r.object.kind === kind)
    .map((r) => r.object);
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Kubernetes label-selector semantics (an empty selector selects everything). */
function selects(selector: LabelSelector, labels: Record<string, string> = {}): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    if (operator === 'In') return value !== undefined && values.includes(value);
    if (operator === 'NotIn') return value === undefined || !values.includes(value);
    if (operator === 'Exists') return value !== undefined;
    if (operator === 'DoesNotExist') return value === undefined;
    throw new Error(`unknown operator ${operator}`);
  });
  return byLabels && byExpressions;
}

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** Whether a NetworkPolicy lets a pod (namespace, labels) reach `port` of the pods it selects. */
function admits(
  policy: Any,
  from: { namespace: string; labels: Record<string, string> },
  namespaceLabels: Record<string, string>,
  port: number,
): boolean {
  return (policy.spec.ingress ?? []).some(
    (rule: Any) =>
      (rule.ports ?? []).some((p: Any) => p.port === port) &&
      (rule.from ?? []).some((peer: Any) => {
        const nsOk = peer.namespaceSelector
          ? selects(peer.namespaceSelector, namespaceLabels)
          : from.namespace === policy.metadata.namespace;
        return nsOk && (peer.podSelector ? selects(peer.podSelector, from.labels) : true);
      }),
  );
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'wakegate-kustomize-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('kustomizations', () => {
  it.each(BUILDS)('%s builds from files that exist, without duplicate resources', (name) => {
    expect(build(name).resources.length).toBeGreaterThan(0);
  });

  it('leaves no manifest outside every build (each one is validated below)', () => {
    const reached = new Set(BUILDS.flatMap((name) => [...build(name).files]));
    const orphans = yamlFilesUnder(K8S).filter((file) => !reached.has(file));
    expect(orphans).toEqual([]);
  });

  it.each(BUILDS)('%s names the namespace of every namespaced resource and creates it', (name) => {
    const clusterScoped = new Set([
      'Namespace',
      'ClusterRole',
      'ClusterRoleBinding',
      'GatewayClass',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]);
    // Envoy Gateway's installation makes the namespace its proxies run in; the overlay only adds to it.
    const installed = name === 'envoy-gateway' ? [ENVOY_GATEWAY_NAMESPACE] : [];
    const created = new Set([...all(name, 'Namespace').map((n) => n.metadata.name), ...installed]);
    for (const { object } of build(name).resources) {
      const where = `${object.kind} ${object.metadata.name}`;
      if (clusterScoped.has(object.kind)) expect(object.metadata.namespace, where).toBeUndefined();
      else expect(created, where).toContain(object.metadata.namespace);
    }
  });

  it('refuses a missing file, a duplicate resource and a patch that matches nothing', () => {
    const dir = tempDir();
    const namespace = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n';
    writeFileSync(path.join(dir, 'ns.yaml'), namespace);
    writeFileSync(path.join(dir, 'again.yaml'), namespace);
    const kustomization = (body: string) => writeFileSync(path.join(dir, 'kustomization.yaml'), body);

    kustomization('resources:\n  - ns.yaml\n  - missing.yaml\n');
    expect(() => kustomizeBuild(dir)).toThrow(/resource missing.yaml does not exist/);
    kustomization('resources:\n  - ns.yaml\n  - again.yaml\n');
    expect(() => kustomizeBuild(dir)).toThrow(/duplicate resource \/Namespace\/\/a/);
    kustomization(
      'resources:\n  - ns.yaml\npatches:\n  - target: {kind: Namespace, name: b}\n    patch: "[{op: remove, path: /metadata/labels}]"\n',
    );
    expect(() => kustomizeBuild(dir)).toThrow(KustomizeError);
    // `$patch: delete` removes the resource it names, and refuses to name one that is not there.
    const deletion = (name: string) =>
      `resources:\n  - ns.yaml\npatches:\n  - patch: |-\n      $patch: delete\n      apiVersion: v1\n      kind: Namespace\n      metadata:\n        name: ${name}\n`;
    kustomization(deletion('a'));
    expect(kustomizeBuild(dir).resources).toEqual([]);
    kustomization(deletion('b'));
    expect(() => kustomizeBuild(dir)).toThrow(/matches no resource/);
  });
});

describe('schemas', () => {
  it.each(BUILDS)('every resource of %s validates against its schema', (name) => {
    for (const { object } of build(name).resources) validateManifest(object);
  });

  it('rejects resources that break their schema', () => {
    const wasmPlugin = structuredClone(find('istio', 'WasmPlugin', 'wakegate'));
    wasmPlugin.spec.failStrategy = 'FAIL_SOMETIMES';
    expect(() => validateManifest(wasmPlugin)).toThrow(ManifestError);

    const policy = structuredClone(find('envoy-gateway', 'EnvoyExtensionPolicy', 'wakegate'));
    policy.spec.wasm[0].code.type = 'ConfigMap';
    expect(() => validateManifest(policy)).toThrow(/code.type/);
    const typo = structuredClone(find('envoy-gateway', 'EnvoyExtensionPolicy', 'wakegate'));
    typo.spec.wasm[0].failopen = true;
    expect(() => validateManifest(typo)).toThrow(/unknown field spec.wasm\[0\].failopen/);

    const client = structuredClone(find('envoy-gateway', 'ClientTrafficPolicy', 'wakegate-timeouts'));
    client.spec.timeout.http.streamIdleTimout = '330s';
    expect(() => validateManifest(client)).toThrow(/unknown field spec.timeout.http.streamIdleTimout/);
    const early = structuredClone(find('envoy-gateway', 'ClientTrafficPolicy', 'wakegate-timeouts'));
    early.spec.headers.earlyRequestHeaders.remove = ['x wakegate'];
    expect(() => validateManifest(early)).toThrow(/earlyRequestHeaders.remove\[0\] must be a string/);
    const backend = structuredClone(find('envoy-gateway', 'BackendTrafficPolicy', 'wakegate-timeouts'));
    backend.spec.timeout.http.requestTimeout = '1 minute';
    expect(() => validateManifest(backend)).toThrow(/requestTimeout must be a string matching/);
    const envoyFilter = structuredClone(find('istio', 'EnvoyFilter', 'wakegate-timeouts'));
    envoyFilter.spec.configPatches[0].applyTo = 'HTTP_CONNECTION_MANAGER';
    expect(() => validateManifest(envoyFilter)).toThrow(ManifestError);

    const deployment = structuredClone(find('base', 'Deployment', 'wakegate-bridge'));
    deployment.spec.replicas = 'two';
    expect(() => validateManifest(deployment)).toThrow(/replicas/);
  });
});

const SERVICES = [
  { name: 'bridge', port: 8787 },
  { name: 'scaler', port: 9102 },
  { name: 'watcher', port: 9101 },
] as const;

function container(workload: Any): Any {
  return workload.spec.template.spec.containers[0];
}

/** The Secrets the wakegate-secrets job makes in the cluster (docs/kubernetes.md, "Secrets"): never in a
 * build, so that applying the manifests again cannot reset them. */
const JOB_SECRETS = new Set(['wakegate-nats-passwords', 'wakegate-bridge-token']);

/** A workload's environment as the kubelet gives it, Secrets resolved from the same build; a Secret the job
 * makes reads as `<name/key>`. */
function resolvedEnv(name: BuildName, workload: Any): Record<string, string> {
  const secretOf = (secretName: string) => find(name, 'Secret', secretName, workload.metadata.namespace);
  const env: Record<string, string> = {};
  for (const variable of container(workload).env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref && JOB_SECRETS.has(ref.name)) {
      env[variable.name] = `<${ref.name}/${ref.key}>`;
    } else if (ref) {
      const value = secretOf(ref.name).stringData?.[ref.key];
      if (value === undefined && !ref.optional) throw new Error(`Secret ${ref.name} has no key ${ref.key}`);
      if (value !== undefined) env[variable.name] = value;
    } else if (variable.valueFrom?.fieldRef) {
      const field = variable.valueFrom.fieldRef.fieldPath;
      env[variable.name] = field === 'metadata.namespace' ? workload.metadata.namespace : 'from-field';
    } else {
      env[variable.name] = variable.value;
    }
  }
  return env;
}

/** The Node flags each service runs with (the entry point's own `*_NODE_FLAGS`). */
const NODE_FLAGS = { bridge: BRIDGE_NODE_FLAGS, scaler: SCALER_NODE_FLAGS, watcher: WATCHER_NODE_FLAGS };

describe('base', () => {
  it.each(SERVICES)('runs the $name on its port with probes on /healthz and /readyz', ({ name, port }) => {
    const deployment = find('base', 'Deployment', `wakegate-${name}`, 'wakegate');
    expect(deployment.spec.replicas).toBe(2);
    const c = container(deployment);
    expect(c.image).toMatch(/^ghcr\.io\/wakegate\/wakegate:/);
    expect(c.command).toBeUndefined();
    const flags = NODE_FLAGS[name as keyof typeof NODE_FLAGS] ?? [];
    expect(c.args).toEqual([...flags, `services/${name}/main.ts`]);
    const env = resolvedEnv('base', deployment);
    expect(Number(env.PORT)).toBe(port);
    const portName = c.ports.find((p: Any) => p.containerPort === port)?.name;
    expect(portName).toBeDefined();
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: portName });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: portName });
  });

  it.each(SERVICES)('gives the $name an environment its config loader accepts', ({ name, port }) => {
    const env = resolvedEnv('base', find('base', 'Deployment', `wakegate-${name}`));
    const config = loadConfig(
      {
        ...natsConfigSpec,
        ...logConfigSpec,
        ...portSpec(port),
        ...providerConfigSpec,
        ...drainSpec,
      },
      env,
    );
    expect(config.port).toBe(port);
    if (name !== 'bridge') {
      expect(config.provider).toBe('kubernetes');
      expect(config.namespaces).toEqual([]);
    }
    // NATS_URL names the NATS Service of the build, on a port it serves.
    const url = new URL(config.natsUrl);
    const [serviceName, namespace] = url.hostname.split('.');
    const service = find('base', 'Service', serviceName as string, namespace);
    expect(service.spec.ports.map((p: Any) => p.port)).toContain(Number(url.port));
  });

  it('ships no Secret: the secrets job makes the bridge token and NATS passwords in the cluster, so applying again never resets them', () => {
    for (const name of BUILDS) expect(all(name, 'Secret'), name).toEqual([]);
    const env = container(find('base', 'Deployment', 'wakegate-bridge')).env;
    const refOf = (variable: string) => env.find((v: Any) => v.name === variable).valueFrom.secretKeyRef;
    expect(refOf('WAKEGATE_BRIDGE_TOKEN')).toEqual({ name: 'wakegate-bridge-token', key: 'token' });
    expect(refOf('WAKEGATE_BRIDGE_TOKEN_PREVIOUS')).toEqual({
      name: 'wakegate-bridge-token',
      key: 'previous',
      optional: true,
    });
  });

  it("names backends' Envoy clusters the way each overlay's gateway does", () => {
    const flavorOf = (build: BuildName) =>
      loadConfig(
        watcherConfigSpec,
        resolvedEnv(build, find(build, 'Deployment', 'wakegate-watcher', 'wakegate')),
      ).gatewayFlavor;
    expect(flavorOf('base')).toBe('envoy');
    expect(flavorOf('istio')).toBe('istio');
    expect(flavorOf('envoy-gateway')).toBe('envoy-gateway');
  });

  it('runs NATS with a user per service, its passwords from the Secret the secrets job makes', () => {
    for (const build of BUILDS.filter((b) => b !== 'examples')) {
      const config = find(build, 'ConfigMap', 'nats-config', 'wakegate').data;
      expect(config['nats.conf'], build).toContain('include "authorization.conf"');
      expect(config['authorization.conf'], build).toBe(shippedNatsAuthorization());
      // nats-server reads its users only at start: the pods carry their hash, so a change rolls them.
      const pods = find(build, 'StatefulSet', 'nats', 'wakegate').spec.template.metadata;
      expect(pods.annotations['wakegate.dev/nats-users'], build).toBe(
        natsUsersHash(config['authorization.conf']),
      );
    }
    const nats = resolvedEnv('base', find('base', 'StatefulSet', 'nats', 'wakegate'));
    for (const { name } of SERVICES) {
      expect(nats[natsPasswordVariable(name)]).toBe(`<wakegate-nats-passwords/${name}>`);
      const env = resolvedEnv('base', find('base', 'Deployment', `wakegate-${name}`, 'wakegate'));
      expect(env.NATS_USER).toBe(natsUserOf(name));
      expect(env.NATS_PASSWORD).toBe(`<wakegate-nats-passwords/${name}>`);
    }
  });

  it("holds nats-server's Go runtime to about 90% of its container's memory limit", () => {
    const nats = find('base', 'StatefulSet', 'nats', 'wakegate');
    const mib = (quantity: string) => Number(/^(\d+)Mi(B)?$/.exec(quantity)?.[1]);
    const limit = mib(container(nats).resources.limits.memory);
    const soft = mib(resolvedEnv('base', nats).GOMEMLIMIT as string);
    expect(soft / limit).toBeGreaterThanOrEqual(0.85);
    expect(soft / limit).toBeLessThanOrEqual(0.92);
  });

  it('runs NATS with JetStream on a persistent volume, one server by default', () => {
    const nats = find('base', 'StatefulSet', 'nats', 'wakegate');
    expect(nats.spec.replicas).toBe(1);
    expect(nats.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(container(nats).volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    const conf = find('base', 'ConfigMap', 'nats-config').data['nats.conf'];
    expect(conf).toMatch(/jetstream \{\s*store_dir: \/data/);
    const headless = find('base', 'Service', nats.spec.serviceName, 'wakegate');
    expect(headless.spec.clusterIP).toBe('None');
  });

  it('runs every pod under the restricted security profile with requests and limits', () => {
    for (const name of BUILDS) {
      for (const workload of [...all(name, 'Deployment'), ...all(name, 'StatefulSet')]) {
        const pod = workload.spec.template.spec;
        const where = `${name} ${workload.metadata.name}`;
        expect(pod.securityContext, where).toMatchObject({
          runAsNonRoot: true,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(pod.securityContext.runAsUser, where).toBeGreaterThan(0);
        for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
          expect(c.securityContext, where).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(Object.keys(c.resources.requests).sort(), where).toEqual(['cpu', 'memory']);
          expect(Object.keys(c.resources.limits).sort(), where).toEqual(['cpu', 'memory']);
        }
      }
    }
  });

  it('selects real pods from every Service and PodDisruptionBudget, on ports the containers expose', () => {
    for (const name of BUILDS) {
      const workloads = [...all(name, 'Deployment'), ...all(name, 'StatefulSet')];
      const podsOf = (selector: LabelSelector, namespace: string) =>
        workloads.filter(
          (w) => w.metadata.namespace === namespace && selects(selector, w.spec.template.metadata.labels),
        );
      for (const service of all(name, 'Service')) {
        const targets = podsOf({ matchLabels: service.spec.selector }, service.metadata.namespace);
        expect(targets.length, `${name} Service ${service.metadata.name}`).toBe(1);
        const ports = container(targets[0]).ports;
        for (const port of service.spec.ports) {
          expect(
            ports.map((p: Any) => p.name),
            `${service.metadata.name}:${port.port}`,
          ).toContain(port.targetPort);
        }
      }
      for (const pdb of all(name, 'PodDisruptionBudget')) {
        expect(podsOf(pdb.spec.selector, pdb.metadata.namespace).length, pdb.metadata.name).toBe(1);
      }
    }
  });

  it('runs each service under its own ServiceAccount; only the watcher and scaler get API credentials', () => {
    for (const workload of [...all('base', 'Deployment'), ...all('base', 'StatefulSet')]) {
      const pod = workload.spec.template.spec;
      const account = find('base', 'ServiceAccount', pod.serviceAccountName, workload.metadata.namespace);
      const usesApi = ['wakegate-watcher', 'wakegate-scaler'].includes(workload.metadata.name);
      expect(pod.automountServiceAccountToken ?? account.automountServiceAccountToken ?? true).toBe(usesApi);
    }
    for (const binding of all('base', 'ClusterRoleBinding')) {
      find('base', 'ClusterRole', binding.roleRef.name);
      for (const subject of binding.subjects) find('base', 'ServiceAccount', subject.name, subject.namespace);
    }
  });

  it('lets only wakegate services reach NATS and only labelled gateways reach the bridge', () => {
    const wakegateNs = { 'kubernetes.io/metadata.name': 'wakegate' };
    const nats = find('base', 'NetworkPolicy', 'nats');
    for (const { name } of SERVICES) {
      const labels = find('base', 'Deployment', `wakegate-${name}`).spec.template.metadata.labels;
      expect(admits(nats, { namespace: 'wakegate', labels }, wakegateNs, 4222), name).toBe(true);
    }
    const stranger = { namespace: 'wakegate', labels: { app: 'curl' } };
    expect(admits(nats, stranger, wakegateNs, 4222)).toBe(false);

    const bridge = find('base', 'NetworkPolicy', 'wakegate-bridge');
    const envoy = { namespace: 'ingress', labels: { 'wakegate.dev/gateway': 'true' } };
    const gatewayNs = { 'kubernetes.io/metadata.name': 'ingress', 'wakegate.dev/gateway': 'true' };
    expect(admits(bridge, envoy, gatewayNs, 8787)).toBe(true);
    expect(admits(bridge, stranger, wakegateNs, 8787)).toBe(false);
    // A tenant labels its own pod like a gateway: its namespace is not one the admin marked, so no.
    const tenant = { namespace: 'team-a', labels: { 'wakegate.dev/gateway': 'true' } };
    expect(admits(bridge, tenant, { 'kubernetes.io/metadata.name': 'team-a' }, 8787)).toBe(false);
  });

  it("refuses every pod the watcher's and the scaler's ports (the kubelet's probes pass any policy)", () => {
    for (const name of ['watcher', 'scaler']) {
      const policy = find('base', 'NetworkPolicy', `wakegate-${name}`);
      const pod = find('base', 'Deployment', `wakegate-${name}`).spec.template;
      expect(selects(policy.spec.podSelector, pod.metadata.labels), name).toBe(true);
      expect(policy.spec.policyTypes).toEqual(['Ingress']);
      expect(policy.spec.ingress).toEqual([]);
    }
  });

  it('admits to the bridge only by namespace and pod together, in every build', () => {
    for (const name of BUILDS) {
      for (const policy of all(name, 'NetworkPolicy')) {
        if (policy.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] !== 'wakegate-bridge') continue;
        for (const peer of policy.spec.ingress.flatMap((rule: Any) => rule.from)) {
          expect(
            Object.keys(peer.namespaceSelector?.matchLabels ?? {}),
            `${name} ${policy.metadata.name}`,
          ).not.toEqual([]);
          expect(
            Object.keys(peer.podSelector?.matchLabels ?? {}),
            `${name} ${policy.metadata.name}`,
          ).not.toEqual([]);
        }
      }
    }
  });
});

describe('observability overlay', () => {
  const REPO = path.join(K8S, '..', '..');
  it('ships the dashboard of infra/grafana/wakegate.json in a ConfigMap the Grafana sidecar loads', () => {
    const configMap = find('overlays/observability', 'ConfigMap', 'wakegate-grafana-dashboard', 'wakegate');
    expect(configMap.metadata.labels.grafana_dashboard).toBe('1');
    const dashboard = readFileSync(path.join(REPO, 'infra', 'grafana', 'wakegate.json'), 'utf8');
    expect(configMap.data['wakegate.json']).toBe(dashboard);
  });

  it('ships the alerts of infra/prometheus/rules.yaml in a PrometheusRule', () => {
    const rule = find('overlays/observability', 'PrometheusRule', 'wakegate', 'wakegate');
    const rules = parse(readFileSync(path.join(REPO, 'infra', 'prometheus', 'rules.yaml'), 'utf8'));
    expect(rule.spec.groups).toEqual(rules.groups);
  });

  it('scrapes the bridge, scaler and watcher pods on ports they expose', () => {
    const monitor = find('overlays/observability', 'PodMonitor', 'wakegate', 'wakegate');
    const ports = monitor.spec.podMetricsEndpoints.map((endpoint: Any) => endpoint.port);
    for (const { name } of SERVICES) {
      const pod = find('overlays/observability', 'Deployment', `wakegate-${name}`).spec.template;
      expect(selects(monitor.spec.selector, pod.metadata.labels), name).toBe(true);
      const exposed = container({ spec: { template: pod } }).ports.map((p: Any) => p.name);
      expect(
        exposed.filter((port: string) => ports.includes(port)),
        name,
      ).toHaveLength(1);
    }
    const nats = find('overlays/observability', 'StatefulSet', 'nats').spec.template;
    expect(selects(monitor.spec.selector, nats.metadata.labels)).toBe(false);
  });

  it("scrapes the filter's metrics from the proxies of the istio and envoy-gateway overlays' Gateways", () => {
    // Istio labels its Gateway's pods with the Gateway's name, in the Gateway's namespace (the istio overlay's
    // own policy admits them to the bridge by that label); Envoy Gateway labels its proxies with the name and
    // namespace of the Gateway they serve, in its own namespace.
    const istio = find('overlays/observability', 'PodMonitor', 'wakegate-gateway-istio', 'wakegate');
    const istioGateway = find('istio', 'Gateway', 'edge', 'wakegate-edge');
    expect(istio.spec.namespaceSelector.matchNames).toEqual([istioGateway.metadata.namespace]);
    const admitted = find('istio', 'NetworkPolicy', 'wakegate-bridge-from-istio-gateway').spec.ingress[0]
      .from[0];
    expect(istio.spec.selector).toEqual(admitted.podSelector);
    const eg = find('overlays/observability', 'PodMonitor', 'wakegate-gateway-envoy-gateway', 'wakegate');
    const egGateway = find('envoy-gateway', 'Gateway', 'edge', 'wakegate-edge');
    expect(eg.spec.selector.matchLabels).toEqual({
      'gateway.envoyproxy.io/owning-gateway-name': egGateway.metadata.name,
      'gateway.envoyproxy.io/owning-gateway-namespace': egGateway.metadata.namespace,
    });
    for (const monitor of [istio, eg]) {
      const [endpoint] = monitor.spec.podMetricsEndpoints;
      expect(endpoint.path).toBe('/stats/prometheus');
      // Envoy serves thousands of its own stats there: only wakegate's are kept.
      expect(endpoint.metricRelabelings).toEqual([
        { sourceLabels: ['__name__'], regex: 'wakegate_.*', action: 'keep' },
      ]);
    }
  });

  it("lets Prometheus reach each service's metrics only from a namespace the admin labelled", () => {
    const prometheus = { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } };
    const labelled = { 'kubernetes.io/metadata.name': 'monitoring', 'wakegate.dev/monitoring': 'true' };
    for (const name of ['bridge', 'watcher', 'scaler']) {
      const policy = find('overlays/observability', 'NetworkPolicy', `wakegate-${name}-metrics`);
      const pod = find('overlays/observability', 'Deployment', `wakegate-${name}`).spec.template;
      expect(selects(policy.spec.podSelector, pod.metadata.labels), name).toBe(true);
      // The port the PodMonitor scrapes it on.
      const port = pod.spec.containers[0].ports.find(
        (p: Any) => p.name === (name === 'bridge' ? 'http' : 'ops'),
      ).containerPort as number;
      expect(admits(policy, prometheus, labelled, port), name).toBe(true);
      expect(admits(policy, prometheus, { 'kubernetes.io/metadata.name': 'monitoring' }, port), name).toBe(
        false,
      );
      expect(admits(policy, { ...prometheus, labels: { app: 'curl' } }, labelled, port), name).toBe(false);
    }
  });
});

describe('nats-cluster overlay', () => {
  it('runs three servers that route to each other through the headless Service', () => {
    const nats = find('overlays/nats-cluster', 'StatefulSet', 'nats', 'wakegate');
    expect(nats.spec.replicas).toBe(3);
    const conf: string = find('overlays/nats-cluster', 'ConfigMap', 'nats-config').data['nats.conf'];
    expect(conf).toMatch(/server_name: \$POD_NAME/);
    // Each route's URL, with the route password, from the environment (nats.conf cannot build a string).
    expect([...conf.matchAll(/^\s+\$(NATS_ROUTE_\d)$/gm)].map((m) => m[1])).toEqual(
      [0, 1, 2].map((i) => `NATS_ROUTE_${i}`),
    );
    const env = nats.spec.template.spec.containers[0].env as {
      name: string;
      value?: string;
      valueFrom?: Any;
    }[];
    const headless = `${nats.spec.serviceName}.${nats.metadata.namespace}.svc.cluster.local`;
    for (const i of [0, 1, 2]) {
      expect(env.find((e) => e.name === `NATS_ROUTE_${i}`)?.value).toBe(
        `nats://route:$(NATS_ROUTE_PASSWORD)@nats-${i}.${headless}:6222`,
      );
    }
    // Kubernetes fills $(NATS_ROUTE_PASSWORD) in only from a variable defined before the one using it.
    const passwordAt = env.findIndex((e) => e.name === 'NATS_ROUTE_PASSWORD');
    expect(passwordAt).toBeGreaterThanOrEqual(0);
    expect(passwordAt).toBeLessThan(env.findIndex((e) => e.name === 'NATS_ROUTE_0'));
    expect(env[passwordAt]?.valueFrom).toEqual({
      secretKeyRef: { name: 'wakegate-nats-passwords', key: 'route' },
    });
    expect(conf).toMatch(/authorization \{\s+user: route\s+password: \$NATS_ROUTE_PASSWORD\s+\}/);
    const service = find('overlays/nats-cluster', 'Service', nats.spec.serviceName);
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    expect(find('overlays/nats-cluster', 'PodDisruptionBudget', 'nats').spec.maxUnavailable).toBe(1);
    // The base itself is untouched.
    expect(find('base', 'StatefulSet', 'nats').spec.replicas).toBe(1);
  });
});

/** The filter's plugin configuration (docs/filter.md, "Configuration"): field → type. */
const FILTER_FIELDS: Record<string, 'string' | 'integer' | 'boolean'> = {
  bridge_cluster: 'string',
  bridge_authority: 'string',
  token: 'string',
  token_env: 'string',
  poll_wait_ms: 'integer',
  max_wait_ms: 'integer',
  max_hold_ms: 'integer',
  max_buffered: 'integer',
  activity_interval_ms: 'integer',
  fail_open: 'boolean',
  probe_mode: 'string',
};

function expectFilterConfig(config: Json): void {
  expect(typeof config.bridge_cluster).toBe('string');
  for (const [field, value] of Object.entries(config)) {
    const type = FILTER_FIELDS[field];
    expect(type, `unknown filter field ${field}`).toBeDefined();
    if (type === 'integer') expect(Number.isInteger(value) && (value as number) > 0, field).toBe(true);
    else expect(typeof value, field).toBe(type);
  }
}

/** The bridge Service's port that reaches the bridge container, and the Service's cluster DNS name. */
function bridgeAddress(name: BuildName): { host: string; port: number } {
  const service = find(name, 'Service', 'wakegate-bridge', 'wakegate');
  const port = service.spec.ports.find((p: Any) => p.targetPort === 'http').port;
  return { host: `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`, port };
}

function gatewayOf(name: BuildName, policy: KubeObject, ref: Any): Any {
  expect(ref).toMatchObject({ group: 'gateway.networking.k8s.io', kind: 'Gateway' });
  // Policies attach only to a Gateway in their own namespace.
  return find(name, 'Gateway', ref.name, policy.metadata.namespace);
}

describe('istio overlay', () => {
  it('attaches the filter to a Gateway of its own namespace and fails open', () => {
    const plugin = find('istio', 'WasmPlugin', 'wakegate');
    expect(plugin.spec.targetRefs).toHaveLength(1);
    expect(gatewayOf('istio', plugin, plugin.spec.targetRefs[0]).spec.gatewayClassName).toBe('istio');
    expect(plugin.spec.url).toMatch(/^oci:\/\/ghcr\.io\/wakegate\/wakegate-filter:/);
    expect(plugin.spec.failStrategy).toBe('FAIL_OPEN');
  });

  it('configures the filter with the bridge cluster as Istio names it', () => {
    const config = find('istio', 'WasmPlugin', 'wakegate').spec.pluginConfig;
    expectFilterConfig(config);
    const { host, port } = bridgeAddress('istio');
    expect(config.bridge_cluster).toBe(`outbound|${port}||${host}`);
  });

  it("outlasts the filter's max_hold_ms with the Gateway's stream idle and request timeouts", () => {
    const plugin = find('istio', 'WasmPlugin', 'wakegate');
    const maxHold = maxHoldOf(plugin.spec.pluginConfig);
    const filter = find('istio', 'EnvoyFilter', 'wakegate-timeouts', plugin.metadata.namespace);
    // On the pods of the Gateway the filter is on, merged into every HTTP connection manager of its listeners.
    expect(plugin.spec.targetRefs).toHaveLength(1);
    expect(filter.spec.workloadSelector).toEqual({
      labels: { 'gateway.networking.k8s.io/gateway-name': plugin.spec.targetRefs[0].name },
    });
    expect(filter.spec.configPatches).toHaveLength(1);
    const [patch] = filter.spec.configPatches;
    expect(patch.applyTo).toBe('NETWORK_FILTER');
    expect(patch.match).toEqual({
      context: 'GATEWAY',
      listener: { filterChain: { filter: { name: 'envoy.filters.network.http_connection_manager' } } },
    });
    expect(patch.patch.operation).toBe('MERGE');
    const manager = patch.patch.value.typed_config;
    expect(manager['@type']).toBe(
      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    );
    expect(envoyDurationMs(manager.stream_idle_timeout)).toBeGreaterThanOrEqual(maxHold + HOLD_MARGIN_MS);
    expect(envoyDurationMs(manager.request_timeout)).toBeGreaterThanOrEqual(maxHold + HOLD_MARGIN_MS);
  });

  it("drops a client's x-wakegate-held-ms as the request arrives, before the filter sets its own", () => {
    const manager = find('istio', 'EnvoyFilter', 'wakegate-timeouts').spec.configPatches[0].patch.value
      .typed_config;
    expect(manager.early_header_mutation_extensions).toEqual(DROP_CLIENT_HELD_MS);
  });

  it("lets the Gateway's pods reach the bridge", () => {
    const policies = all('istio', 'NetworkPolicy').filter((p) =>
      selects(p.spec.podSelector, { 'app.kubernetes.io/name': 'wakegate-bridge' }),
    );
    const gatewayPod = {
      namespace: 'wakegate-edge',
      labels: { 'gateway.networking.k8s.io/gateway-name': 'edge' },
    };
    const nsLabels = { 'kubernetes.io/metadata.name': 'wakegate-edge' };
    expect(policies.some((p) => admits(p, gatewayPod, nsLabels, 8787))).toBe(true);
  });
});

/**
 * The HTTP filter chain Envoy Gateway builds for `present` (filter types, in its default order: its
 * translator's newOrderedHTTPFilter, internal/xds/translator/httpfilters.go), after applying an EnvoyProxy's
 * `filterOrder` as its sortHTTPFilters does: `before` moves the filter before the first of that type present,
 * `after` after the last; an entry whose filters are absent changes nothing.
 */
function envoyGatewayChain(
  present: string[],
  filterOrder: { name: string; before?: string; after?: string }[],
) {
  const chain = [...present];
  for (const { name, before, after } of filterOrder) {
    if (!chain.includes(name)) continue;
    const anchor = before ?? after;
    if (!anchor || !chain.includes(anchor)) continue;
    chain.splice(chain.indexOf(name), 1);
    const at = before ? chain.indexOf(before) : chain.lastIndexOf(anchor) + 1;
    chain.splice(at, 0, name);
  }
  return chain;
}

describe('envoy-gateway overlay', () => {
  it("drops a client's x-wakegate-held-ms as the request arrives, before the filter sets its own", () => {
    const policy = find('envoy-gateway', 'ClientTrafficPolicy', 'wakegate-timeouts');
    expect(policy.spec.headers).toEqual({ earlyRequestHeaders: { remove: ['x-wakegate-held-ms'] } });
    const gateway = find('envoy-gateway', 'Gateway', 'edge');
    expect(policy.spec.targetRefs).toEqual([
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: gateway.metadata.name },
    ]);
  });

  it('runs the filter after authorization and rate limiting, so a refused request wakes nothing', () => {
    const gateway = find('envoy-gateway', 'Gateway', 'edge', 'wakegate-edge');
    const ref = gateway.spec.infrastructure.parametersRef;
    expect(ref).toMatchObject({ group: 'gateway.envoyproxy.io', kind: 'EnvoyProxy' });
    const proxy = find('envoy-gateway', 'EnvoyProxy', ref.name, 'wakegate-edge');
    const w = 'envoy.filters.http.wasm';
    const full = [
      'envoy.filters.http.ext_authz',
      'envoy.filters.http.jwt_authn',
      w,
      'envoy.filters.http.rbac',
      'envoy.filters.http.local_ratelimit',
      'envoy.filters.http.ratelimit',
      'envoy.filters.http.router',
    ];
    // Envoy Gateway's own order would let a request RBAC or a rate limit refuses hold and wake a backend.
    expect(envoyGatewayChain(full, []).indexOf(w)).toBeLessThan(full.indexOf('envoy.filters.http.rbac'));
    for (const present of [
      full,
      [w, 'envoy.filters.http.rbac', 'envoy.filters.http.router'],
      [w, 'envoy.filters.http.local_ratelimit', 'envoy.filters.http.router'],
    ]) {
      const chain = envoyGatewayChain(present, proxy.spec.filterOrder);
      expect(chain.at(-2), present.join(' ')).toBe(w);
      expect(chain.at(-1)).toBe('envoy.filters.http.router');
    }
  });

  it('attaches the filter to a Gateway of its own namespace and fails open', () => {
    const policy = find('envoy-gateway', 'EnvoyExtensionPolicy', 'wakegate');
    const gateway = gatewayOf('envoy-gateway', policy, policy.spec.targetRefs[0]);
    const gatewayClass = find('envoy-gateway', 'GatewayClass', gateway.spec.gatewayClassName);
    expect(gatewayClass.spec.controllerName).toBe('gateway.envoyproxy.io/gatewayclass-controller');
    const [wasm] = policy.spec.wasm;
    expect(wasm.code).toEqual({
      type: 'Image',
      image: { url: expect.stringMatching(/^ghcr\.io\/wakegate\/wakegate-filter:/) },
    });
    expect(wasm.failOpen).toBe(true);
    expectFilterConfig(wasm.config);
  });

  it('adds, on the same Gateway, the cluster the filter calls, pointing at the bridge Service', () => {
    const policy = find('envoy-gateway', 'EnvoyExtensionPolicy', 'wakegate');
    const clusterName = policy.spec.wasm[0].config.bridge_cluster;
    const patches = all('envoy-gateway', 'EnvoyPatchPolicy').filter(
      (p) =>
        p.metadata.namespace === policy.metadata.namespace &&
        p.spec.targetRef.kind === 'Gateway' &&
        p.spec.targetRef.name === policy.spec.targetRefs[0].name,
    );
    const added = patches
      .flatMap((p) => p.spec.jsonPatches)
      .filter(
        (j: Any) =>
          j.type === 'type.googleapis.com/envoy.config.cluster.v3.Cluster' &&
          j.operation.op === 'add' &&
          j.operation.path === '',
      )
      .map((j: Any) => j.operation.value);
    const cluster = added.find((c: Any) => c.name === clusterName);
    expect(cluster, `no EnvoyPatchPolicy adds cluster ${clusterName}`).toBeDefined();
    expect(cluster.load_assignment.cluster_name).toBe(clusterName);
    expect(['STRICT_DNS', 'LOGICAL_DNS']).toContain(cluster.type);
    const { host, port } = bridgeAddress('envoy-gateway');
    const endpoints = cluster.load_assignment.endpoints.flatMap((e: Any) =>
      e.lb_endpoints.map((l: Any) => l.endpoint.address.socket_address),
    );
    expect(endpoints).toEqual([{ address: host, port_value: port }]);
  });

  it("outlasts the filter's max_hold_ms with the Gateway's stream idle and request timeouts, and sets the route timeout", () => {
    const policy = find('envoy-gateway', 'EnvoyExtensionPolicy', 'wakegate');
    const maxHold = maxHoldOf(policy.spec.wasm[0].config);
    const client = find(
      'envoy-gateway',
      'ClientTrafficPolicy',
      'wakegate-timeouts',
      policy.metadata.namespace,
    );
    expect(client.spec.targetRefs).toEqual(policy.spec.targetRefs);
    const http = client.spec.timeout.http;
    expect(gatewayDurationMs(http.streamIdleTimeout)).toBeGreaterThanOrEqual(maxHold + HOLD_MARGIN_MS);
    expect(gatewayDurationMs(http.requestReceivedTimeout)).toBeGreaterThanOrEqual(maxHold + HOLD_MARGIN_MS);
    // The route timeout starts after the release: set for every route of the Gateway, not Envoy's 15 s.
    const backend = find(
      'envoy-gateway',
      'BackendTrafficPolicy',
      'wakegate-timeouts',
      policy.metadata.namespace,
    );
    expect(backend.spec.targetRefs).toEqual(policy.spec.targetRefs);
    expect(gatewayDurationMs(backend.spec.timeout.http.requestTimeout)).toBeGreaterThan(0);
  });

  it("lets the Gateway's proxies reach the bridge", () => {
    const policies = all('envoy-gateway', 'NetworkPolicy');
    const proxyPod = {
      namespace: 'envoy-gateway-system',
      labels: {
        'gateway.envoyproxy.io/owning-gateway-name': 'edge',
        'gateway.envoyproxy.io/owning-gateway-namespace': 'wakegate-edge',
      },
    };
    const nsLabels = { 'kubernetes.io/metadata.name': 'envoy-gateway-system' };
    expect(policies.some((p) => admits(p, proxyPod, nsLabels, 8787))).toBe(true);
  });
});

describe('examples', () => {
  it('opts a sleeping Deployment in with settings the watcher reads without a problem', () => {
    const deployment = find('examples', 'Deployment', 'hello', 'demo');
    expect(deployment.metadata.labels['wakegate.dev/enabled']).toBe('true');
    expect(deployment.spec.replicas).toBe(0);
    const settings: Record<string, string> = {};
    for (const [key, value] of Object.entries(deployment.metadata.annotations as Record<string, string>)) {
      if (!key.startsWith('wakegate.dev/')) continue;
      const setting = key.slice('wakegate.dev/'.length);
      expect(SETTING_NAMES as readonly string[], key).toContain(setting);
      settings[setting] = value;
    }
    const parsed = parseBackendSettings(settings);
    expect(parsed.problems).toEqual([]);
    expect(parsed.config.idleTimeoutMs).toBe(120_000);
    expect(parsed.hosts).toEqual(['hello.demo.example.com']);
  });

  it("routes the demo's hostname from the Gateway of either overlay to a Service selecting it", () => {
    const route = find('examples', 'HTTPRoute', 'hello', 'demo');
    const deployment = find('examples', 'Deployment', 'hello', 'demo');
    for (const ref of route.spec.rules.flatMap((r: Any) => r.backendRefs)) {
      const service = find('examples', 'Service', ref.name, route.metadata.namespace);
      expect(selects({ matchLabels: service.spec.selector }, deployment.spec.template.metadata.labels)).toBe(
        true,
      );
      expect(service.spec.ports.map((p: Any) => p.port)).toContain(ref.port);
    }
    expect(route.spec.hostnames).toEqual(['hello.example.com']);
    // Istio leaves a route without a timeout unbounded: the example sets one on every rule.
    for (const rule of route.spec.rules) expect(gatewayDurationMs(rule.timeouts?.request)).toBeGreaterThan(0);
    for (const overlay of ['istio', 'envoy-gateway'] as const) {
      for (const parent of route.spec.parentRefs) {
        const gateway = find(overlay, 'Gateway', parent.name, parent.namespace);
        const open = gateway.spec.listeners.some((l: Any) => l.allowedRoutes?.namespaces?.from === 'All');
        expect(open, `${overlay} Gateway admits routes from the demo namespace`).toBe(true);
      }
    }
  });
});

describe('filter configuration in the real filter', () => {
  /** Configures the built filter as a gateway of the overlay would (its configuration, and the VM's
   * environment from the proxies' own) and returns its first bridge call (the long poll). */
  async function firstBridgeCall(
    config: Json,
    environment?: VmEnvironmentConfig,
    hostEnvironment: Record<string, string> = {},
  ): Promise<HttpCallRequest> {
    let resolveCall: (request: HttpCallRequest) => void = () => {};
    const called = new Promise<HttpCallRequest>((resolve) => {
      resolveCall = resolve;
    });
    const clock = new ManualClock();
    const plugin = await createPlugin({
      module: filterWasmPath,
      configuration: config,
      clusters: [String(config.bridge_cluster)],
      clock,
      httpCall: async (request) => {
        resolveCall(request);
        return undefined;
      },
      onLog: () => {},
      ...(environment ? { environment } : {}),
      hostEnvironment,
    });
    // The filter polls from its first tick, 1 ms after configure.
    clock.advance(1);
    try {
      return await called;
    } finally {
      plugin.close();
    }
  }

  it.each(['istio', 'envoy-gateway'] as const)(
    'takes the %s configuration and long-polls the bridge cluster it names, with the token the secrets job made for the bridge',
    async (overlay) => {
      const objects = build(overlay).resources.map((r) => r.object);
      // The job as the manifests run it, against the API double with only its ServiceAccount's rules.
      const job = find(overlay, 'Job', 'wakegate-secrets', 'wakegate');
      const jobConfig = loadConfig(secretsConfigSpec, resolvedEnv(overlay, job));
      const api = await startKubeApiServer({
        rbac: {
          user: 'system:serviceaccount:wakegate:wakegate-secrets',
          rules: rulesOf(objects, job.spec.template.spec.serviceAccountName, 'wakegate'),
        },
      });
      try {
        await ensureSecrets({
          store: new SecretStore(api.kubeConfig()),
          home: jobConfig.home,
          tokenNamespaces: jobConfig.tokenNamespaces,
          logger: createLogger('secrets-job', 'silent'),
        });
        expect(api.refused).toEqual([]);
        const secretKey = (namespace: string, name: string, key: string) => {
          const data = api.get('secrets', namespace, name)?.data as Record<string, string> | undefined;
          return data?.[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString();
        };
        // The bridge, in its namespace, reads the token the job made.
        const bridge = find(overlay, 'Deployment', 'wakegate-bridge', 'wakegate');
        const bridgeEnv = containerEnvironment(container(bridge).env, bridge.metadata.namespace, secretKey);
        const auth = loadConfig(bridgeConfigSpec, bridgeEnv).auth;
        const [token] = 'tokens' in auth ? auth.tokens : [];
        expect(token).toMatch(/^w[A-Za-z0-9_-]{43}$/);
        // The gateway's proxies read the copy in their namespace; their VM gets it; the filter sends it.
        const tokenPath = gatewayTokenPath(overlay, objects);
        expect(tokenPath.filterConfig).not.toHaveProperty('token');
        const call = await firstBridgeCall(
          tokenPath.filterConfig,
          tokenPath.vmEnvironment,
          containerEnvironment(tokenPath.proxyEnv, tokenPath.proxyNamespace, secretKey),
        );
        expect(call.cluster).toBe(tokenPath.filterConfig.bridge_cluster);
        const headers = Object.fromEntries(call.headers);
        expect(headers[':authority']).toBe(tokenPath.filterConfig.bridge_authority);
        expect(headers[':path']).toMatch(/^\/v1\/backends\?/);
        expect(headers.authorization).toBe(`Bearer ${token}`);
      } finally {
        await api.close();
      }
    },
  );

  it('refuses the configuration when a field is misspelt', async () => {
    const config = { ...find('istio', 'WasmPlugin', 'wakegate').spec.pluginConfig, poll_wait: 1000 };
    await expect(
      createPlugin({
        module: filterWasmPath,
        configuration: config,
        clock: new ManualClock(),
        onLog: () => {},
      }),
    ).rejects.toBeInstanceOf(PluginStartError);
  });
});
