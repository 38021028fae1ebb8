/**
 * Validation of every kind the manifests use: the published OpenAPI schemas through kubernetes-models,
 * @kubernetes-models/gateway-api, @kubernetes-models/istio and @kubernetes-models/prometheus-operator, and for Envoy Gateway (whose schemas are
 * published only as CRDs, not as a package here) a structural check of the fields wakegate sets.
 */
import {
  GatewayClass,
  Gateway as GatewayV1,
  HTTPRoute,
} from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { WasmPlugin } from '@kubernetes-models/istio/extensions.istio.io/v1alpha1';
import { EnvoyFilter } from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import {
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
} from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { asError, DNS_SUBDOMAIN } from '../../services/shared/index.ts';
import type { KubeObject } from './kustomize-build.ts';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': ValidatingAdmissionPolicy,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': ValidatingAdmissionPolicyBinding,
  'gateway.networking.k8s.io/v1/GatewayClass': GatewayClass,
  'gateway.networking.k8s.io/v1/Gateway': GatewayV1,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
  'extensions.istio.io/v1alpha1/WasmPlugin': WasmPlugin,
  'networking.istio.io/v1alpha3/EnvoyFilter': EnvoyFilter,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
};

export class ManifestError extends Error {
  constructor(object: KubeObject, detail: string) {
    super(`${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}: ${detail}`);
    this.name = 'ManifestError';
  }
}

type Json = unknown;
const isObject = (value: Json): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Fails on the first field of `value` outside `allowed`, naming it. */
function onlyKeys(object: KubeObject, where: string, value: Json, allowed: string[]): Record<string, Json> {
  if (!isObject(value)) throw new ManifestError(object, `${where} must be a mapping`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ManifestError(object, `unknown field ${where}.${key}`);
  }
  return value;
}

function requireString(object: KubeObject, where: string, value: Json, pattern?: RegExp): string {
  if (typeof value !== 'string' || (pattern && !pattern.test(value))) {
    throw new ManifestError(object, `${where} must be a string${pattern ? ` matching ${pattern}` : ''}`);
  }
  return value;
}

function checkTargetRef(object: KubeObject, where: string, ref: Json): void {
  const target = onlyKeys(object, where, ref, ['group', 'kind', 'name', 'sectionName']);
  requireString(object, `${where}.group`, target.group, /^gateway\.networking\.k8s\.io$/);
  requireString(object, `${where}.kind`, target.kind, /^(Gateway|GatewayClass|HTTPRoute|GRPCRoute)$/);
  requireString(object, `${where}.name`, target.name, DNS_SUBDOMAIN);
}

/** gateway.envoyproxy.io/v1alpha1 EnvoyExtensionPolicy: the fields of its Wasm extension API. */
function checkEnvoyExtensionPolicy(object: KubeObject): void {
  onlyKeys(object, '', object, ['apiVersion', 'kind', 'metadata', 'spec']);
  const spec = onlyKeys(object, 'spec', object.spec, ['targetRef', 'targetRefs', 'priority', 'wasm']);
  const refs = spec.targetRefs ?? (spec.targetRef === undefined ? undefined : [spec.targetRef]);
  if (!Array.isArray(refs) || refs.length === 0)
    throw new ManifestError(object, 'spec.targetRefs is required');
  for (const [i, ref] of refs.entries()) checkTargetRef(object, `spec.targetRefs[${i}]`, ref);
  if (!Array.isArray(spec.wasm) || spec.wasm.length === 0 || spec.wasm.length > 16) {
    throw new ManifestError(object, 'spec.wasm must list 1 to 16 extensions');
  }
  spec.wasm.forEach((item, i) => {
    const where = `spec.wasm[${i}]`;
    const wasm = onlyKeys(object, where, item, ['name', 'rootID', 'code', 'config', 'failOpen', 'env']);
    if (wasm.name !== undefined) requireString(object, `${where}.name`, wasm.name);
    const code = onlyKeys(object, `${where}.code`, wasm.code, ['type', 'http', 'image', 'pullPolicy']);
    const type = requireString(object, `${where}.code.type`, code.type, /^(HTTP|Image)$/);
    const source = type === 'HTTP' ? 'http' : 'image';
    const other = type === 'HTTP' ? 'image' : 'http';
    if (code[other] !== undefined)
      throw new ManifestError(object, `${where}.code.${other} set for type ${type}`);
    const sourceFields = type === 'HTTP' ? ['url', 'sha256'] : ['url', 'sha256', 'pullSecretRef'];
    const location = onlyKeys(object, `${where}.code.${source}`, code[source], sourceFields);
    requireString(
      object,
      `${where}.code.${source}.url`,
      location.url,
      type === 'HTTP' ? /^https?:\/\/\S+$/ : /^(?![a-z]+:\/\/)\S+$/,
    );
    if (wasm.config !== undefined && !isObject(wasm.config)) {
      throw new ManifestError(object, `${where}.config must be a mapping`);
    }
    if (wasm.failOpen !== undefined && typeof wasm.failOpen !== 'boolean') {
      throw new ManifestError(object, `${where}.failOpen must be a boolean`);
    }
    if (wasm.env !== undefined) {
      const env = onlyKeys(object, `${where}.env`, wasm.env, ['hostKeys']);
      if (!Array.isArray(env.hostKeys))
        throw new ManifestError(object, `${where}.env.hostKeys must be a list`);
      env.hostKeys.forEach((key, k) => {
        requireString(object, `${where}.env.hostKeys[${k}]`, key, ENV_NAME);
      });
    }
  });
}

/** A container environment variable's name, as Envoy looks it up in its own environment. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A container's `env` as wakegate writes it: plain values, or a key of a Secret. */
function checkContainerEnv(object: KubeObject, where: string, value: Json): void {
  if (!Array.isArray(value)) throw new ManifestError(object, `${where} must be a list`);
  value.forEach((item, i) => {
    const variable = onlyKeys(object, `${where}[${i}]`, item, ['name', 'value', 'valueFrom']);
    requireString(object, `${where}[${i}].name`, variable.name, ENV_NAME);
    if ((variable.value === undefined) === (variable.valueFrom === undefined))
      throw new ManifestError(object, `${where}[${i}] needs exactly one of value and valueFrom`);
    if (variable.valueFrom !== undefined) {
      const from = onlyKeys(object, `${where}[${i}].valueFrom`, variable.valueFrom, ['secretKeyRef']);
      const ref = onlyKeys(object, `${where}[${i}].valueFrom.secretKeyRef`, from.secretKeyRef, [
        'name',
        'key',
        'optional',
      ]);
      requireString(object, `${where}[${i}].valueFrom.secretKeyRef.name`, ref.name, DNS_SUBDOMAIN);
      requireString(object, `${where}[${i}].valueFrom.secretKeyRef.key`, ref.key);
    }
  });
}

/** A Gateway API Duration (GEP-2257): one to four units from h, m, s, ms. */
export const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

function checkPolicyTargets(object: KubeObject, spec: Record<string, Json>): void {
  const refs = spec.targetRefs ?? (spec.targetRef === undefined ? undefined : [spec.targetRef]);
  if (!Array.isArray(refs) || refs.length === 0)
    throw new ManifestError(object, 'spec.targetRefs is required');
  for (const [i, ref] of refs.entries()) checkTargetRef(object, `spec.targetRefs[${i}]`, ref);
}

function checkDurations(object: KubeObject, where: string, value: Json, allowed: string[]): void {
  const fields = onlyKeys(object, where, value, allowed);
  for (const [key, duration] of Object.entries(fields)) {
    requireString(object, `${where}.${key}`, duration, GATEWAY_DURATION);
  }
}

/**
 * An Envoy Gateway traffic policy (gateway.envoyproxy.io/v1alpha1) as wakegate writes it: targets and the
 * timeout fields it sets, `httpTimeouts` naming the HTTP timeouts that kind takes; with `headers`, the
 * client side's early header changes too.
 */
function timeoutPolicyCheck(httpTimeouts: string[], headers = false): (object: KubeObject) => void {
  return (object) => {
    onlyKeys(object, '', object, ['apiVersion', 'kind', 'metadata', 'spec']);
    const spec = onlyKeys(object, 'spec', object.spec, [
      'targetRef',
      'targetRefs',
      'timeout',
      ...(headers ? ['headers'] : []),
    ]);
    checkPolicyTargets(object, spec);
    const timeout = onlyKeys(object, 'spec.timeout', spec.timeout, ['tcp', 'http']);
    if (timeout.http !== undefined) checkDurations(object, 'spec.timeout.http', timeout.http, httpTimeouts);
    if (spec.headers !== undefined) checkEarlyRequestHeaders(object, spec.headers);
  };
}

/** `spec.headers.earlyRequestHeaders` of a ClientTrafficPolicy: a Gateway API HTTPHeaderFilter. */
function checkEarlyRequestHeaders(object: KubeObject, headers: Json): void {
  const { earlyRequestHeaders } = onlyKeys(object, 'spec.headers', headers, ['earlyRequestHeaders']);
  const filter = onlyKeys(object, 'spec.headers.earlyRequestHeaders', earlyRequestHeaders, [
    'set',
    'add',
    'remove',
  ]);
  if (!Array.isArray(filter.remove) || filter.remove.length === 0)
    throw new ManifestError(object, 'spec.headers.earlyRequestHeaders.remove must list header names');
  for (const [i, name] of filter.remove.entries())
    requireString(
      object,
      `spec.headers.earlyRequestHeaders.remove[${i}]`,
      name,
      /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/,
    );
}

/** ClientTrafficPolicy: the timeouts of the client side (request received, idle, stream idle), and the
 * headers dropped as a request arrives. */
const checkClientTrafficPolicy = timeoutPolicyCheck(
  ['requestReceivedTimeout', 'idleTimeout', 'streamIdleTimeout'],
  true,
);

/** BackendTrafficPolicy: the timeouts of the upstream side. */
const checkBackendTrafficPolicy = timeoutPolicyCheck([
  'requestTimeout',
  'connectionIdleTimeout',
  'maxConnectionDuration',
  'maxStreamDuration',
]);

const XDS_TYPES = [
  'type.googleapis.com/envoy.config.listener.v3.Listener',
  'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
];

/** The HTTP filter types Envoy Gateway's `filterOrder` may name (its API's EnvoyFilter enum). */
export const ENVOY_GATEWAY_FILTERS = [
  'envoy.filters.http.health_check',
  'envoy.filters.http.fault',
  'envoy.filters.http.cors',
  'envoy.filters.http.header_mutation',
  'envoy.filters.http.ext_authz',
  'envoy.filters.http.api_key_auth',
  'envoy.filters.http.basic_auth',
  'envoy.filters.http.oauth2',
  'envoy.filters.http.jwt_authn',
  'envoy.filters.http.stateful_session',
  'envoy.filters.http.buffer',
  'envoy.filters.http.lua',
  'envoy.filters.http.ext_proc',
  'envoy.filters.http.wasm',
  'envoy.filters.http.rbac',
  'envoy.filters.http.local_ratelimit',
  'envoy.filters.http.ratelimit',
  'envoy.filters.http.custom_response',
  'envoy.filters.http.credential_injector',
  'envoy.filters.http.compressor',
  'envoy.filters.http.router',
];

/** gateway.envoyproxy.io/v1alpha1 EnvoyProxy, for what wakegate sets: the HTTP filter order, the
 * environment of the proxies' container, and the routing type (its API's RoutingType enum). */
function checkEnvoyProxy(object: KubeObject): void {
  onlyKeys(object, '', object, ['apiVersion', 'kind', 'metadata', 'spec']);
  const spec = onlyKeys(object, 'spec', object.spec, ['provider', 'filterOrder', 'routingType']);
  if (spec.routingType !== undefined)
    requireString(object, 'spec.routingType', spec.routingType, /^(Service|Endpoint)$/);
  if (spec.provider !== undefined) {
    const provider = onlyKeys(object, 'spec.provider', spec.provider, ['type', 'kubernetes']);
    requireString(object, 'spec.provider.type', provider.type, /^Kubernetes$/);
    const kubernetes = onlyKeys(object, 'spec.provider.kubernetes', provider.kubernetes, ['envoyDeployment']);
    const deployment = onlyKeys(
      object,
      'spec.provider.kubernetes.envoyDeployment',
      kubernetes.envoyDeployment,
      ['container'],
    );
    const where = 'spec.provider.kubernetes.envoyDeployment.container';
    const container = onlyKeys(object, where, deployment.container, ['env']);
    checkContainerEnv(object, `${where}.env`, container.env);
  }
  if (!Array.isArray(spec.filterOrder)) throw new ManifestError(object, 'spec.filterOrder must be a list');
  const requireFilter = (where: string, value: Json) => {
    if (!ENVOY_GATEWAY_FILTERS.includes(requireString(object, where, value)))
      throw new ManifestError(object, `${where} is not a filter Envoy Gateway orders: ${String(value)}`);
  };
  spec.filterOrder.forEach((item, i) => {
    const where = `spec.filterOrder[${i}]`;
    const position = onlyKeys(object, where, item, ['name', 'before', 'after']);
    requireFilter(`${where}.name`, position.name);
    if ((position.before === undefined) === (position.after === undefined))
      throw new ManifestError(object, `${where} needs exactly one of before and after`);
    requireFilter(
      `${where}.${position.before === undefined ? 'after' : 'before'}`,
      position.before ?? position.after,
    );
  });
}

/** gateway.envoyproxy.io/v1alpha1 EnvoyPatchPolicy: JSON patches of the generated xDS resources. */
function checkEnvoyPatchPolicy(object: KubeObject): void {
  onlyKeys(object, '', object, ['apiVersion', 'kind', 'metadata', 'spec']);
  const spec = onlyKeys(object, 'spec', object.spec, [
    'type',
    'jsonPatches',
    'targetRef',
    'targetRefs',
    'priority',
  ]);
  requireString(object, 'spec.type', spec.type, /^JSONPatch$/);
  checkTargetRef(object, 'spec.targetRef', spec.targetRef);
  if (!Array.isArray(spec.jsonPatches) || spec.jsonPatches.length === 0) {
    throw new ManifestError(object, 'spec.jsonPatches must not be empty');
  }
  spec.jsonPatches.forEach((item, i) => {
    const where = `spec.jsonPatches[${i}]`;
    const patch = onlyKeys(object, where, item, ['type', 'name', 'operation']);
    if (!XDS_TYPES.includes(String(patch.type)))
      throw new ManifestError(object, `${where}.type is not an xDS type`);
    requireString(object, `${where}.name`, patch.name);
    const operation = onlyKeys(object, `${where}.operation`, patch.operation, [
      'op',
      'path',
      'jsonPath',
      'from',
      'value',
    ]);
    requireString(object, `${where}.operation.op`, operation.op, /^(add|remove|replace|move|copy|test)$/);
    requireString(object, `${where}.operation.path`, operation.path);
  });
}

const STRUCTURAL: Record<string, (object: KubeObject) => void> = {
  'gateway.envoyproxy.io/v1alpha1/EnvoyExtensionPolicy': checkEnvoyExtensionPolicy,
  'gateway.envoyproxy.io/v1alpha1/EnvoyProxy': checkEnvoyProxy,
  'gateway.envoyproxy.io/v1alpha1/EnvoyPatchPolicy': checkEnvoyPatchPolicy,
  'gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy': checkClientTrafficPolicy,
  'gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy': checkBackendTrafficPolicy,
};

/** Throws a ManifestError naming the resource and the first problem. */
export function validateManifest(object: KubeObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS[key];
  if (Model) {
    try {
      new Model(object as never).validate();
    } catch (error) {
      throw new ManifestError(object, asError(error).message);
    }
    return;
  }
  const check = STRUCTURAL[key];
  if (!check) throw new ManifestError(object, `no schema known for ${key}`);
  check(object);
}
