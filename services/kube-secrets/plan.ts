/**
 * What the Secrets job decides, without I/O: which Secrets to create or change, given those that exist. A
 * value that is set is never changed (a made secret stays until an operator rotates it); an empty or missing
 * one is made; each copy of the bridge token follows the token of the home namespace, so rotating there and
 * running the job again carries the new token to the gateways.
 */

/** The bridge token (`token`, and `previous` during a rotation): the bridge reads it in the home namespace,
 * each gateway's proxies read their copy in their own namespace. */
export const BRIDGE_TOKEN_SECRET = 'wakegate-bridge-token';
/** One NATS password per service (key = service), read by NATS and by that service, and the one the servers
 * of a NATS cluster give each other on their route port (`NATS_ROUTE_KEY`), read by NATS alone. */
export const NATS_PASSWORDS_SECRET = 'wakegate-nats-passwords';
export const NATS_ROUTE_KEY = 'route';

/**
 * Whether nats-server refuses a password from the environment: it reads a variable's value in its
 * configuration language, where a base64url value starting with `-`, or with digits and then `-`, is a
 * number or a date it cannot use, and NATS does not start. Such a password (an earlier release made about 1
 * in 50 so) is made again: NATS was not running with it. Any other stays, as NATS may be running with it.
 */
export function natsRefuses(password: string): boolean {
  return /^(-|\d+-)/.test(password);
}

/** A Secret's values, decoded. */
export type SecretValues = Readonly<Record<string, string>>;

/** A Secret as read: its values and the resourceVersion a replace must name. */
export interface ExistingSecret {
  values: SecretValues;
  resourceVersion: string;
}

export interface SecretsState {
  /** The namespace of the bridge, NATS and the services. */
  home: string;
  token: ExistingSecret | undefined;
  natsPasswords: ExistingSecret | undefined;
  /** The bridge token's copy in each gateway namespace (undefined: none there yet). */
  copies: ReadonlyMap<string, ExistingSecret | undefined>;
}

/** A Secret to write: created when `resourceVersion` is undefined, else replaced at that version. */
export interface SecretWrite {
  namespace: string;
  name: string;
  values: SecretValues;
  resourceVersion: string | undefined;
  /** For the log: the keys made or copied (never their values). */
  changed: string[];
  action: 'made' | 'copied';
}

/** The writes that bring `state` to every secret set, in order: the home token before its copies. */
export function planSecrets(
  state: SecretsState,
  natsPasswordKeys: readonly string[],
  makeSecret: () => string,
): SecretWrite[] {
  const writes: SecretWrite[] = [];
  /** The home Secret `name` with every key of `keys` set: written when one was missing, empty or not
   * `usable`. */
  const made = (
    name: string,
    existing: ExistingSecret | undefined,
    keys: readonly string[],
    usable: (value: string) => boolean = () => true,
  ) => {
    const values: Record<string, string> = { ...existing?.values };
    const changed = keys.filter((key) => !values[key] || !usable(values[key]));
    for (const key of changed) values[key] = makeSecret();
    if (changed.length > 0) {
      writes.push({
        namespace: state.home,
        name,
        values,
        resourceVersion: existing?.resourceVersion,
        changed,
        action: 'made',
      });
    }
    return values;
  };

  const token = made(BRIDGE_TOKEN_SECRET, state.token, ['token']).token as string;
  // wakegate's own Secrets first: a gateway namespace's copy that cannot be written (a Secret of that name
  // its owner made immutable, say) must not keep NATS and every service from starting.
  made(NATS_PASSWORDS_SECRET, state.natsPasswords, natsPasswordKeys, (value) => !natsRefuses(value));
  for (const [namespace, copy] of state.copies) {
    if (namespace === state.home || copy?.values.token === token) continue;
    writes.push({
      namespace,
      name: BRIDGE_TOKEN_SECRET,
      values: { ...copy?.values, token },
      resourceVersion: copy?.resourceVersion,
      changed: ['token'],
      action: 'copied',
    });
  }
  return writes;
}
