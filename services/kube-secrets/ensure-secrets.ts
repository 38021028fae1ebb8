/** One run of the job: read what exists, plan, write; when another writer got there first (409), read and
 * plan again, so two runs at once (a retried Job pod) end with one token, never two. */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { apiStatus, loggedApiError } from '../providers/kubernetes/index.ts';
import { NATS_SERVICES, WakegateError } from '../shared/index.ts';
import {
  BRIDGE_TOKEN_SECRET,
  NATS_PASSWORDS_SECRET,
  NATS_ROUTE_KEY,
  planSecrets,
  type SecretWrite,
} from './plan.ts';
import type { SecretStore } from './secret-store.ts';

const ATTEMPTS = 5;

/**
 * 32 random bytes, base64url without padding, after a `w`: 44 characters that YAML, JSON, nats.conf and a
 * shell take literally. The letter first because nats-server reads a variable's value as a value of its own
 * configuration language: one starting with `-`, or digits and `-`, is read as a number or a date, and
 * nats-server refuses to start (about 1 password in 50 made without it; `natsRefuses`).
 */
export function makeSecret(): string {
  return `w${randomBytes(32).toString('base64url')}`;
}

export class SecretsConflictError extends WakegateError {
  constructor() {
    super('secrets_conflict', `the Secrets kept changing under the job: gave up after ${ATTEMPTS} attempts`);
  }
}

export interface EnsureSecretsOptions {
  store: SecretStore;
  /** The namespace of the bridge, NATS and the services. */
  home: string;
  /** Gateway namespaces that get a copy of the bridge token. */
  tokenNamespaces: readonly string[];
  logger: Logger;
}

/** Brings the Secrets to every value set; returns what it wrote. */
export async function ensureSecrets(options: EnsureSecretsOptions): Promise<SecretWrite[]> {
  const { store, home, logger } = options;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const [token, natsPasswords, ...copies] = await Promise.all([
      store.read(home, BRIDGE_TOKEN_SECRET),
      store.read(home, NATS_PASSWORDS_SECRET),
      ...options.tokenNamespaces.map((namespace) => store.read(namespace, BRIDGE_TOKEN_SECRET)),
    ]);
    const writes = planSecrets(
      {
        home,
        token,
        natsPasswords,
        copies: new Map(options.tokenNamespaces.map((namespace, i) => [namespace, copies[i]])),
      },
      [...NATS_SERVICES, NATS_ROUTE_KEY],
      makeSecret,
    );
    // A copy that cannot be written stops the run only once every other copy was written: one gateway
    // namespace's Secret does not hold back the others' token (a rotation would leave them on the old one).
    let failedCopy: unknown;
    try {
      for (const write of writes) {
        try {
          await store.write(write);
        } catch (error) {
          if (write.action !== 'copied' || apiStatus(error) === 409) throw error;
          logger.error(
            { namespace: write.namespace, secret: write.name, err: loggedApiError(error) },
            'could not copy the bridge token',
          );
          failedCopy ??= error;
          continue;
        }
        logger.info(
          { namespace: write.namespace, secret: write.name, keys: write.changed },
          write.action === 'made' ? 'made secret values' : 'copied the bridge token',
        );
      }
      if (failedCopy !== undefined) throw failedCopy;
      return writes;
    } catch (error) {
      if (apiStatus(error) !== 409) throw error;
      logger.info({ attempt }, 'a Secret changed while the job wrote: reading again');
    }
  }
  throw new SecretsConflictError();
}
