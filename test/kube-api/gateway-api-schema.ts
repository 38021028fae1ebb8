/**
 * The Gateway API CRDs as installed (kubernetes-sigs/gateway-api `config/crd/standard`, from the markers
 * in `apis/v1/*_types.go`): the structural-schema defaults kube-apiserver applies to every HTTPRoute and
 * GRPCRoute written, and the validations a provider could otherwise slip past. Only the fields the
 * providers read or the fixtures write are modelled.
 */
import type { FieldError, KubeObject } from './store.ts';

type Json = Record<string, unknown>;

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** `Hostname` in `apis/v1/shared_types.go`. */
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** `ParentReference`: group and kind default to a Gateway (the namespace does not: it is the route's). */
function defaultParentRefs(spec: Json): void {
  for (const ref of objects(spec.parentRefs)) {
    ref.group ??= GATEWAY_GROUP;
    ref.kind ??= 'Gateway';
  }
}

/** `BackendRef`: group "" and kind Service (a core Service), weight 1. */
function defaultBackendRefs(rule: Json): void {
  for (const ref of objects(rule.backendRefs)) {
    ref.group ??= '';
    ref.kind ??= 'Service';
    ref.weight ??= 1;
  }
}

function defaultHttpRoute(spec: Json): void {
  // `HTTPRouteSpec.Rules` and `HTTPRouteRule.Matches` default to one match on every path.
  spec.rules ??= [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }];
  for (const rule of objects(spec.rules)) {
    rule.matches ??= [{ path: { type: 'PathPrefix', value: '/' } }];
    for (const match of objects(rule.matches)) {
      match.path ??= { type: 'PathPrefix', value: '/' };
      if (isObject(match.path)) {
        match.path.type ??= 'PathPrefix';
        match.path.value ??= '/';
      }
      for (const header of objects(match.headers)) header.type ??= 'Exact';
      for (const param of objects(match.queryParams)) param.type ??= 'Exact';
    }
    defaultBackendRefs(rule);
  }
}

function defaultGrpcRoute(spec: Json): void {
  // GRPCRoute has no default rule: a route without rules matches every method.
  for (const rule of objects(spec.rules)) {
    for (const match of objects(rule.matches)) {
      if (isObject(match.method)) match.method.type ??= 'Exact';
      for (const header of objects(match.headers)) header.type ??= 'Exact';
    }
    defaultBackendRefs(rule);
  }
}

export function defaultRoute(kind: string, object: KubeObject): void {
  object.spec ??= {};
  defaultParentRefs(object.spec);
  if (kind === 'HTTPRoute') defaultHttpRoute(object.spec);
  else defaultGrpcRoute(object.spec);
}

/** `in body should be …`: how the OpenAPI schema validator words a bound. */
function bound(field: string, value: unknown, min: number, max: number): FieldError | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value))
    return { field, value, detail: `${field} in body must be of type integer: "${typeof value}"` };
  if ((value as number) < min)
    return { field, value, detail: `${field} in body should be greater than or equal to ${min}` };
  if ((value as number) > max)
    return { field, value, detail: `${field} in body should be less than or equal to ${max}` };
  return undefined;
}

/** The schema's field errors first, then the CEL rules' (as kube-apiserver runs them). */
export function routeErrors(object: KubeObject): FieldError[] {
  const spec = object.spec ?? {};
  const errors: FieldError[] = [];
  const rules: FieldError[] = [];
  objects(spec.parentRefs).forEach((ref, i) => {
    if (typeof ref.name !== 'string') errors.push({ field: `spec.parentRefs[${i}].name` });
  });
  (Array.isArray(spec.hostnames) ? spec.hostnames : []).forEach((hostname, i) => {
    const field = `spec.hostnames[${i}]`;
    if (typeof hostname !== 'string' || hostname.length > 253 || !HOSTNAME.test(hostname))
      errors.push({ field, value: hostname, detail: `${field} in body should match '${HOSTNAME.source}'` });
  });
  objects(spec.rules).forEach((rule, r) => {
    objects(rule.backendRefs).forEach((ref, b) => {
      const at = `spec.rules[${r}].backendRefs[${b}]`;
      if (typeof ref.name !== 'string') errors.push({ field: `${at}.name` });
      const port = bound(`${at}.port`, ref.port, 1, 65535);
      const weight = bound(`${at}.weight`, ref.weight, 0, 1_000_000);
      for (const error of [port, weight]) if (error) errors.push(error);
      // `BackendObjectReference`'s CEL rule: "Must have port for Service reference".
      if (ref.group === '' && ref.kind === 'Service' && ref.port === undefined)
        rules.push({ field: at, value: 'object', detail: 'Must have port for Service reference' });
    });
  });
  return [...errors, ...rules];
}

export function isGatewayRoute(group: string, kind: string): boolean {
  return group === GATEWAY_GROUP && (kind === 'HTTPRoute' || kind === 'GRPCRoute');
}
