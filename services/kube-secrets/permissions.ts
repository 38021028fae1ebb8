/**
 * The Kubernetes API permissions the Secrets job needs, as RBAC PolicyRules: the source of truth for its
 * Roles in the manifests (one in the home namespace, one in each gateway namespace that gets a copy of the
 * bridge token). It reads and replaces only wakegate's own Secrets; RBAC cannot limit `create` to a name.
 */
import type { PolicyRule } from '../providers/kubernetes/index.ts';
import { BRIDGE_TOKEN_SECRET, NATS_PASSWORDS_SECRET } from './plan.ts';

export const HOME_SECRETS_RULES: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  {
    apiGroups: [''],
    resources: ['secrets'],
    resourceNames: [BRIDGE_TOKEN_SECRET, NATS_PASSWORDS_SECRET],
    verbs: ['get', 'update'],
  },
];

export const GATEWAY_SECRETS_RULES: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  { apiGroups: [''], resources: ['secrets'], resourceNames: [BRIDGE_TOKEN_SECRET], verbs: ['get', 'update'] },
];
