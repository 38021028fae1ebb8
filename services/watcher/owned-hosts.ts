/**
 * Host ownership (host-ownership.ts) of the provider's latest set, worked out again only when a claim
 * changed: a readiness change leaves every host and creation time as it was, and at 10,000 backends
 * resolving every claim on every change cost more than the rest of the change together.
 */
import {
  type HostClaimant,
  type HostOwnership,
  type HostPolicy,
  resolveHostOwnership,
} from '../providers/index.ts';
import { type BackendId, sameRoutes } from '../shared/index.ts';

function sameHosts(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((host, i) => host === b[i]));
}

export class OwnedHosts {
  readonly #policy: HostPolicy;
  #claims = new Map<BackendId, HostClaimant>();
  #last: HostOwnership | undefined;

  constructor(policy: HostPolicy) {
    this.#policy = policy;
  }

  resolve(claimants: readonly HostClaimant[]): HostOwnership {
    if (this.#last !== undefined && this.#sameClaims(claimants)) return this.#last;
    this.#claims = new Map(claimants.map((c) => [c.id, c]));
    this.#last = resolveHostOwnership(claimants, this.#policy);
    return this.#last;
  }

  #sameClaims(claimants: readonly HostClaimant[]): boolean {
    if (claimants.length !== this.#claims.size) return false;
    return claimants.every((c) => {
      const last = this.#claims.get(c.id);
      if (last === undefined) return false;
      return (
        last === c ||
        (last.createdAt === c.createdAt &&
          sameHosts(last.hosts, c.hosts) &&
          sameRoutes(last.routes, c.routes))
      );
    });
  }
}
