/**
 * What kube-apiserver does to an object before it stores it, for the built-in kinds the double serves:
 * defaulting (`pkg/apis/apps/v1/defaults.go` `SetDefaults_Deployment`, `pkg/apis/core/v1/defaults.go`
 * `SetDefaults_Service` and `SetDefaults_ContainerPort`), applied to every create and update, then
 * validation. Custom resources get their CRD's schema defaults and rules (`gateway-api-schema.ts`).
 */
import { defaultRoute, isGatewayRoute, routeErrors } from './gateway-api-schema.ts';
import type { ResourceType } from './resources.ts';
import type { FieldError, KubeObject } from './store.ts';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function defaultContainerPorts(podSpec: unknown): void {
  if (!isObject(podSpec)) return;
  for (const container of objects(podSpec.containers))
    for (const port of objects(container.ports)) port.protocol ??= 'TCP';
}

function defaultDeployment(spec: Json): void {
  // A Deployment without replicas runs one pod: the field is never absent when read back.
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  if (!isObject(spec.strategy)) spec.strategy = {};
  const strategy = spec.strategy as Json;
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate')
    strategy.rollingUpdate = { maxUnavailable: '25%', maxSurge: '25%', ...(strategy.rollingUpdate as Json) };
  const template = spec.template;
  if (isObject(template)) defaultContainerPorts(template.spec);
}

function defaultService(spec: Json): void {
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  for (const port of objects(spec.ports)) {
    port.protocol ??= 'TCP';
    // targetPort defaults to the port itself (a number), never to a name.
    if (port.targetPort === undefined || port.targetPort === 0 || port.targetPort === '')
      port.targetPort = port.port;
  }
}

/** Fills in what the API server defaults, in place. */
export function applyDefaults(type: ResourceType, object: KubeObject): void {
  if (type.group === 'apps' && type.kind === 'Deployment') {
    object.spec ??= {};
    defaultDeployment(object.spec);
  } else if (type.group === '' && type.kind === 'Service') {
    object.spec ??= {};
    defaultService(object.spec);
  } else if (isGatewayRoute(type.group, type.kind)) defaultRoute(type.kind, object);
}

/** The field errors validation finds in a defaulted object (empty: valid). */
export function schemaErrors(type: ResourceType, object: KubeObject): FieldError[] {
  if (isGatewayRoute(type.group, type.kind)) return routeErrors(object);
  const errors: FieldError[] = [];
  if (type.group === 'apps' && type.kind === 'Deployment') {
    const replicas = object.spec?.replicas;
    if (!(Number.isInteger(replicas) && (replicas as number) >= 0))
      errors.push({ field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' });
  }
  return errors;
}
