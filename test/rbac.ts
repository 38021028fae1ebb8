/**
 * The RBAC of the manifests as a model: which PolicyRules each ServiceAccount is bound to by the
 * kustomize build of `infra/k8s/`, with the namespace each is granted in. `infra/k8s/rbac.test.ts` checks
 * the manifests against the calls the providers make with it; the Kubernetes API double enforces it
 * (`startKubeApiServer({ rbac: serviceAccountRbac('wakegate-scaler') })`), so an adapter test makes only the
 * calls its ServiceAccount may make, and a call outside the rules is answered 403 as by kube-apiserver.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PolicyRule } from '../services/providers/kubernetes/index.ts';
import { type KubeObject, kustomizeBuild } from './infra/kustomize-build.ts';

const K8S = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'infra', 'k8s');

/** A rule bound to a ServiceAccount, with the namespace it is granted in (none: cluster-wide). */
export interface BoundRule {
  rule: PolicyRule;
  namespace: string | undefined;
}

/** What the API double authorizes every call against: the user as the API names it, and its rules. */
export interface RbacSubject {
  /** `system:serviceaccount:<namespace>:<name>`, as in kube-apiserver's 403 message. */
  user: string;
  rules: readonly BoundRule[];
}

/** The rules bound to a ServiceAccount in `objects`, each with the namespace it is granted in. */
export function rulesOf(objects: KubeObject[], account: string, namespace: string): BoundRule[] {
  const bound: BoundRule[] = [];
  for (const binding of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const subjects = binding.subjects as { kind: string; name: string; namespace?: string }[];
    if (
      !subjects.some((s) => s.kind === 'ServiceAccount' && s.name === account && s.namespace === namespace)
    ) {
      continue;
    }
    const ref = binding.roleRef as { kind: string; name: string };
    const role = objects.find(
      (o) =>
        o.kind === ref.kind &&
        o.metadata.name === ref.name &&
        (ref.kind === 'ClusterRole' || o.metadata.namespace === binding.metadata.namespace),
    );
    if (!role) throw new Error(`${binding.metadata.name} binds a missing ${ref.kind} ${ref.name}`);
    if (binding.kind === 'RoleBinding' && !binding.metadata.namespace)
      throw new Error(`RoleBinding ${binding.metadata.name} has no namespace`);
    for (const rule of role.rules as PolicyRule[]) {
      bound.push({
        rule,
        namespace: binding.kind === 'ClusterRoleBinding' ? undefined : binding.metadata.namespace,
      });
    }
  }
  return bound;
}

/** The objects of a kustomize build under `infra/k8s/` (`base`, `overlays/namespaced`, ...). */
export function manifestObjects(build = 'base'): KubeObject[] {
  return kustomizeBuild(path.join(K8S, build)).resources.map((r) => r.object);
}

/**
 * The RBAC a wakegate ServiceAccount (in namespace `wakegate`) has in a build of the manifests: by default
 * the base, bound cluster-wide.
 */
export function serviceAccountRbac(
  account: 'wakegate-watcher' | 'wakegate-scaler' | 'wakegate-secrets',
  build = 'base',
): RbacSubject {
  const rules = rulesOf(manifestObjects(build), account, 'wakegate');
  if (rules.length === 0) throw new Error(`${account} has no roles in ${build}`);
  return { user: `system:serviceaccount:wakegate:${account}`, rules };
}
