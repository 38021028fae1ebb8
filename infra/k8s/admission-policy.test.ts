/**
 * The ValidatingAdmissionPolicy that keeps the scaler out of the `kube-*` namespaces, evaluated against
 * requests the way the API server evaluates it: the binding selects the policy, the policy's
 * matchConstraints select the request by operation, group, version, resource and scope, every matchCondition
 * must hold, and then every validation must hold or the request is refused. The CEL expressions are
 * evaluated by a model of the small part of CEL they use (string equality, `startsWith`, `!`, `&&`, `||`);
 * an expression outside that part fails this test rather than being guessed at. There is no API server here:
 * this is a model of its evaluation, written from the Kubernetes API reference, not the real thing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type KubeObject, kustomizeBuild } from '../../test/infra/kustomize-build.ts';

const K8S = path.dirname(fileURLToPath(import.meta.url));

/** The admission request fields the policy can look at. */
interface AdmissionRequest {
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  group: string;
  version: string;
  resource: string;
  subresource?: string;
  /** Empty for a cluster-scoped object, as in the API server's request. */
  namespace: string;
  username: string;
}

// A model of the CEL subset: recursive descent over tokens.

type Value = string | boolean | Record<string, unknown>;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const pattern = /\s*('(?:[^'\\]|\\.)*'|&&|\|\||==|!=|[!().]|[A-Za-z_][A-Za-z0-9_]*)/y;
  let index = 0;
  while (index < text.length) {
    if (/^\s*$/.test(text.slice(index))) break;
    pattern.lastIndex = index;
    const match = pattern.exec(text);
    if (!match) throw new Error(`CEL outside the modelled subset at ${JSON.stringify(text.slice(index))}`);
    tokens.push(match[1] as string);
    index = pattern.lastIndex;
  }
  return tokens;
}

function evaluateCel(text: string, variables: Record<string, Value>): boolean {
  const tokens = tokenize(text);
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const token = tokens[at++];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new Error(`CEL outside the modelled subset: expected ${expected ?? 'more'} in ${text}`);
    }
    return token;
  };
  const bool = (value: Value): boolean => {
    if (typeof value !== 'boolean') throw new Error(`CEL: ${JSON.stringify(value)} is not a bool in ${text}`);
    return value;
  };
  const str = (value: Value): string => {
    if (typeof value !== 'string')
      throw new Error(`CEL: ${JSON.stringify(value)} is not a string in ${text}`);
    return value;
  };

  const operand = (): Value => {
    const token = take();
    if (token.startsWith("'")) return token.slice(1, -1).replace(/\\(.)/g, '$1');
    if (token === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (!/^[A-Za-z_]/.test(token)) throw new Error(`CEL outside the modelled subset: ${token} in ${text}`);
    if (!(token in variables)) throw new Error(`CEL: unknown variable ${token}`);
    let value: Value = variables[token] as Value;
    while (peek() === '.') {
      take('.');
      const name = take();
      if (peek() === '(') {
        if (name !== 'startsWith') throw new Error(`CEL outside the modelled subset: .${name}() in ${text}`);
        take('(');
        const prefix = str(operand());
        take(')');
        value = str(value).startsWith(prefix);
      } else {
        if (typeof value !== 'object' || !(name in value))
          throw new Error(`CEL: no field ${name} in ${text}`);
        value = value[name] as Value;
      }
    }
    return value;
  };
  const comparison = (): Value => {
    const left = operand();
    if (peek() === '==' || peek() === '!=') {
      const op = take();
      const right = operand();
      return (str(left) === str(right)) === (op === '==');
    }
    return left;
  };
  const unary = (): Value => {
    if (peek() === '!') {
      take('!');
      return !bool(unary());
    }
    return comparison();
  };
  const and = (): Value => {
    let value = unary();
    while (peek() === '&&') {
      take('&&');
      const right = unary();
      value = bool(value) && bool(right);
    }
    return value;
  };
  const or = (): Value => {
    let value = and();
    while (peek() === '||') {
      take('||');
      const right = and();
      value = bool(value) || bool(right);
    }
    return value;
  };
  const result = bool(or());
  if (at !== tokens.length)
    throw new Error(`CEL outside the modelled subset: trailing ${tokens[at]} in ${text}`);
  return result;
}

// A model of the API server's matching and evaluation.

interface ResourceRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: 'Namespaced' | 'Cluster' | '*';
}

const anyOf = (list: string[], value: string) => list.includes('*') || list.includes(value);

// A rule's `resources` entries against a request: `*` is every resource (no subresource), `*` slash `*`
// every resource and subresource, `r` slash `*` every subresource of r, `*` slash `s` subresource s of any.
function resourceMatches(entries: string[], resource: string, subresource: string | undefined): boolean {
  return entries.some((entry) => {
    const [name, sub] = entry.split('/') as [string, string | undefined];
    if (sub === undefined) return subresource === undefined && (name === '*' || name === resource);
    if (subresource === undefined) return false;
    return (name === '*' || name === resource) && (sub === '*' || sub === subresource);
  });
}

function ruleMatches(rule: ResourceRule, request: AdmissionRequest): boolean {
  const scope = rule.scope ?? '*';
  const scoped =
    scope === '*' || (scope === 'Namespaced' ? request.namespace !== '' : request.namespace === '');
  return (
    anyOf(rule.operations, request.operation) &&
    anyOf(rule.apiGroups, request.group) &&
    anyOf(rule.apiVersions, request.version) &&
    resourceMatches(rule.resources, request.resource, request.subresource) &&
    scoped
  );
}

type Verdict = { allowed: true } | { allowed: false; message: string; reason: string };

/** What the API server answers `request`, given every policy and binding of the build. */
function admit(objects: KubeObject[], request: AdmissionRequest): Verdict {
  const variables = {
    request: {
      operation: request.operation,
      namespace: request.namespace,
      userInfo: { username: request.username },
    },
  };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML; the test asserts their shape.
  const kinds = (kind: string) => objects.filter((o) => o.kind === kind) as any[];
  for (const binding of kinds('ValidatingAdmissionPolicyBinding')) {
    const policy = kinds('ValidatingAdmissionPolicy').find(
      (p) => p.metadata.name === binding.spec.policyName,
    );
    if (!policy) throw new Error(`binding ${binding.metadata.name} names no policy`);
    // Selectors this model does not evaluate must not be there.
    expect(binding.spec.matchResources, 'binding matchResources (not modelled)').toBeUndefined();
    const constraints = policy.spec.matchConstraints;
    for (const key of Object.keys(constraints))
      expect(['resourceRules'], `matchConstraints.${key}`).toContain(key);
    if (!(constraints.resourceRules as ResourceRule[]).some((rule) => ruleMatches(rule, request))) continue;
    if (
      !(policy.spec.matchConditions ?? []).every((c: { expression: string }) =>
        evaluateCel(c.expression, variables),
      )
    ) {
      continue;
    }
    for (const validation of policy.spec.validations) {
      if (evaluateCel(validation.expression, variables)) continue;
      if (binding.spec.validationActions.includes('Deny')) {
        return { allowed: false, message: validation.message, reason: validation.reason };
      }
    }
  }
  return { allowed: true };
}

describe.each(['base', 'overlays/namespaced'])('admission policy of %s', (build) => {
  const objects = kustomizeBuild(path.join(K8S, build)).resources.map((r) => r.object);
  // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML.
  const scaler = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'wakegate-scaler') as any;
  const scalerUser = `system:serviceaccount:${scaler.metadata.namespace}:${scaler.spec.template.spec.serviceAccountName}`;
  const scale = (namespace: string, username = scalerUser): AdmissionRequest => ({
    operation: 'UPDATE',
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    subresource: 'scale',
    namespace,
    username,
  });

  it("refuses the scaler's ServiceAccount a scale in kube-* namespaces (attack: a scaler bound cluster-wide scales the cluster's own workloads)", () => {
    for (const namespace of ['kube-system', 'kube-public', 'kube-node-lease']) {
      expect(admit(objects, scale(namespace)), namespace).toEqual({
        allowed: false,
        message: "wakegate's scaler may not write in the kube-* namespaces",
        reason: 'Forbidden',
      });
    }
  });

  it('refuses it any other write there too: a patch of the Deployment, a create, a delete', () => {
    const writes: AdmissionRequest[] = [
      // kubectl patch / a server-side apply reach admission as UPDATE.
      { ...scale('kube-system'), subresource: undefined },
      {
        ...scale('kube-system'),
        operation: 'CREATE',
        group: '',
        resource: 'configmaps',
        subresource: undefined,
      },
      { ...scale('kube-system'), operation: 'DELETE', group: '', resource: 'pods', subresource: undefined },
    ];
    for (const request of writes)
      expect(admit(objects, request).allowed, JSON.stringify(request)).toBe(false);
  });

  it('lets the scaler scale in other namespaces, and everyone else write in kube-*', () => {
    expect(admit(objects, scale('demo'))).toEqual({ allowed: true });
    // Only the prefix `kube-` is the cluster's: a namespace merely starting with "kube" is a tenant's.
    expect(admit(objects, scale('kubernetes-dashboard'))).toEqual({ allowed: true });
    expect(
      admit(objects, scale('kube-system', 'system:serviceaccount:kube-system:deployment-controller')),
    ).toEqual({ allowed: true });
    expect(admit(objects, scale('kube-system', 'system:serviceaccount:wakegate:wakegate-watcher'))).toEqual({
      allowed: true,
    });
  });

  it('refuses when the API server cannot evaluate it, and is bound to deny', () => {
    // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML.
    const policy = objects.find((o) => o.kind === 'ValidatingAdmissionPolicy') as any;
    // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML.
    const binding = objects.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding') as any;
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(binding.spec.policyName).toBe(policy.metadata.name);
    expect(binding.spec.validationActions).toEqual(['Deny']);
  });
});

describe('the CEL model', () => {
  const variables = { request: { namespace: 'kube-system', userInfo: { username: 'u' } } };

  it('evaluates the subset the policy uses', () => {
    expect(evaluateCel("!request.namespace.startsWith('kube-')", variables)).toBe(false);
    expect(evaluateCel("request.userInfo.username == 'u' && request.namespace != 'x'", variables)).toBe(true);
    expect(
      evaluateCel("(request.userInfo.username == 'v') || !(request.namespace == 'kube-system')", variables),
    ).toBe(false);
  });

  it('refuses expressions outside it rather than guessing', () => {
    expect(() => evaluateCel("request.namespace.endsWith('x')", variables)).toThrow(/subset/);
    expect(() => evaluateCel("request.namespace in ['a']", variables)).toThrow(/subset/);
    expect(() => evaluateCel('request.missing == 1', variables)).toThrow();
  });
});
