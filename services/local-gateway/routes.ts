/** Which backend URL a request goes to, by its authority: the hosts of the process provider's backends. */
import { normalizeHost } from '../shared/index.ts';

export interface Route {
  backend: string;
  url: string;
}

export class RouteTable {
  readonly #exact = new Map<string, Route>();
  readonly #wildcard = new Map<string, Route>();

  constructor(backends: Iterable<{ id: string; url: string; hosts: string[] }>) {
    for (const { id, url, hosts } of backends) {
      for (const host of hosts) {
        if (host.startsWith('*.')) this.#wildcard.set(host.slice(2), { backend: id, url });
        else this.#exact.set(host, { backend: id, url });
      }
    }
  }

  /** Same matching as the filter: lowercase, port stripped, exact first, then the closest `*.` wildcard. */
  find(authority: string): Route | undefined {
    const host = normalizeHost(authority);
    if (host === undefined) return undefined;
    const exact = this.#exact.get(host);
    if (exact) return exact;
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
      const route = this.#wildcard.get(host.slice(dot + 1));
      if (route) return route;
    }
    return undefined;
  }
}
