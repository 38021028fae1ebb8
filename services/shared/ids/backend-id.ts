import { InvalidBackendIdError } from '../errors.ts';

/** A validated backend id, `<namespace>/<name>`. */
export type BackendId = string;

export interface BackendRef {
  namespace: string;
  name: string;
}

const NAMESPACE_MAX = 63;
const NAME_MAX = 253;
const ALNUM = /^[a-z0-9]$/;
const ALLOWED = /^[a-z0-9.-]$/;

/**
 * Checks one part against the DNS-1123 rules and returns the broken rule, or undefined.
 * The namespace is a DNS-1123 label (no '.'), as Kubernetes namespaces are; this keeps the subject
 * token of a backend exactly two NATS tokens. The name is a DNS-1123 subdomain.
 */
function brokenRule(part: string, what: 'namespace' | 'name'): string | undefined {
  const max = what === 'namespace' ? NAMESPACE_MAX : NAME_MAX;
  if (part.length === 0) return `${what} is empty`;
  if (part.length > max) return `${what} is ${part.length} characters, more than ${max}`;
  for (const ch of part) {
    if (ch === '.' && what === 'namespace') return `namespace may not contain '.'`;
    if (!ALLOWED.test(ch)) {
      const shown = ch === ' ' ? 'space' : JSON.stringify(ch);
      return `${what} contains ${shown}; only lowercase a-z, 0-9, '-' and '.' are allowed`;
    }
  }
  for (const label of part.split('.')) {
    if (label.length === 0) return `${what} has an empty part between dots or at an end`;
    if (!ALNUM.test(label[0] as string) || !ALNUM.test(label[label.length - 1] as string)) {
      return `${what} must start and end with a letter or digit (also around each '.')`;
    }
  }
  return undefined;
}

/** Parses and validates `<namespace>/<name>`; throws InvalidBackendIdError naming the broken rule. */
export function parseBackendId(input: string): BackendRef {
  if (typeof input !== 'string') throw new InvalidBackendIdError(String(input), 'not a string');
  const slash = input.indexOf('/');
  if (slash < 0) throw new InvalidBackendIdError(input, "expected '<namespace>/<name>'");
  const namespace = input.slice(0, slash);
  const name = input.slice(slash + 1);
  if (name.includes('/')) throw new InvalidBackendIdError(input, "more than one '/'");
  const broken = brokenRule(namespace, 'namespace') ?? brokenRule(name, 'name');
  if (broken) throw new InvalidBackendIdError(input, broken);
  return { namespace, name };
}

/** Builds a validated id from its parts. */
export function backendId(namespace: string, name: string): BackendId {
  const id = `${namespace}/${name}`;
  parseBackendId(id);
  return id;
}

/** `<namespace>.<name with '.' as '_'>`: two NATS tokens; reversible since '_' never occurs in a valid name. */
export function backendToken(id: BackendId): string {
  const { namespace, name } = parseBackendId(id);
  return `${namespace}.${name.replaceAll('.', '_')}`;
}

export function backendFromToken(token: string): BackendId {
  const dot = token.indexOf('.');
  if (dot < 0) throw new InvalidBackendIdError(token, 'subject token has no namespace part');
  const id = `${token.slice(0, dot)}/${token.slice(dot + 1).replaceAll('_', '.')}`;
  if (token.slice(dot + 1).includes('.'))
    throw new InvalidBackendIdError(token, 'subject token has more than two parts');
  parseBackendId(id);
  return id;
}

/** KV key of a backend: the id verbatim (KV keys allow '/', '.', '-'). */
export function backendKey(id: BackendId): string {
  parseBackendId(id);
  return id;
}

export function backendFromKey(key: string): BackendId {
  parseBackendId(key);
  return key;
}
