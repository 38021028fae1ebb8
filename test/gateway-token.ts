/**
 * How an overlay hands the bridge token to the filter, read from its kustomize build: the gateway proxies'
 * environment (a Secret's key, in the namespace the proxies run in), the variables the Wasm VM gets from
 * that environment, and the filter's configuration that names one of them (`token_env`).
 */
import { parse } from 'yaml';
import type { VmEnvironmentConfig } from '../wasm-filter/host/index.ts';
import type { KubeObject } from './infra/kustomize-build.ts';

/** Where Envoy Gateway runs the proxies of every Gateway by default: its own namespace. */
export const ENVOY_GATEWAY_NAMESPACE = 'envoy-gateway-system';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}

export interface GatewayTokenPath {
  /** The namespace of the gateway's proxies, where the Secrets their environment names must be. */
  proxyNamespace: string;
  /** The proxies' container environment as the overlay sets it. */
  proxyEnv: EnvVar[];
  /** `vm_config.environment_variables` as the overlay makes the gateway configure them. */
  vmEnvironment: VmEnvironmentConfig;
  /** The filter's plugin configuration. */
  filterConfig: Record<string, unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML.
type Any = any;

function find(objects: KubeObject[], kind: string, name: string, namespace?: string): Any {
  const found = objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
  if (!found) throw new Error(`no ${kind} ${namespace ?? ''}/${name} in the build`);
  return found;
}

/** The Gateway a policy attaches to: in the policy's own namespace. */
function targetGateway(objects: KubeObject[], policy: Any): Any {
  return find(objects, 'Gateway', policy.spec.targetRefs[0].name, policy.metadata.namespace);
}

export function gatewayTokenPath(
  overlay: 'istio' | 'envoy-gateway',
  objects: KubeObject[],
): GatewayTokenPath {
  if (overlay === 'istio') {
    const plugin = find(objects, 'WasmPlugin', 'wakegate');
    const gateway = targetGateway(objects, plugin);
    // Istio deploys the Gateway's proxies in its namespace, merging the ConfigMap its parametersRef names.
    const parameters = find(
      objects,
      'ConfigMap',
      gateway.spec.infrastructure.parametersRef.name,
      gateway.metadata.namespace,
    );
    const deployment = parse(parameters.data.deployment);
    const proxy = deployment.spec.template.spec.containers.find((c: Any) => c.name === 'istio-proxy');
    const env: { name: string; valueFrom?: string; value?: string }[] = plugin.spec.vmConfig?.env ?? [];
    return {
      proxyNamespace: gateway.metadata.namespace,
      proxyEnv: proxy?.env ?? [],
      vmEnvironment: {
        hostEnvKeys: env.filter((e) => e.valueFrom === 'HOST').map((e) => e.name),
        keyValues: Object.fromEntries(
          env.filter((e) => e.valueFrom !== 'HOST').map((e) => [e.name, e.value ?? '']),
        ),
      },
      filterConfig: plugin.spec.pluginConfig,
    };
  }
  const policy = find(objects, 'EnvoyExtensionPolicy', 'wakegate');
  const gateway = targetGateway(objects, policy);
  const proxy = find(
    objects,
    'EnvoyProxy',
    gateway.spec.infrastructure.parametersRef.name,
    gateway.metadata.namespace,
  );
  const wasm = policy.spec.wasm[0];
  return {
    proxyNamespace: ENVOY_GATEWAY_NAMESPACE,
    proxyEnv: proxy.spec.provider?.kubernetes?.envoyDeployment?.container?.env ?? [],
    vmEnvironment: { hostEnvKeys: wasm.env?.hostKeys ?? [] },
    filterConfig: wasm.config,
  };
}

/** A container's environment as the kubelet gives it, each Secret key read with `secret` in the pod's
 * namespace; an optional key that is missing is left out, a required one throws (the kubelet would not
 * start the container). */
export function containerEnvironment(
  env: readonly EnvVar[],
  namespace: string,
  secret: (namespace: string, name: string, key: string) => string | undefined,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const variable of env) {
    const ref = variable.valueFrom?.secretKeyRef;
    const value = ref ? secret(namespace, ref.name, ref.key) : variable.value;
    if (value === undefined && !ref?.optional)
      throw new Error(`${variable.name}: no key ${ref?.key} in Secret ${namespace}/${ref?.name}`);
    if (value !== undefined) environment[variable.name] = value;
  }
  return environment;
}
