/**
 * Routes written as text, for settings that are flat strings (Docker labels, `wakegate.routes`): entries
 * separated by `,`, each `<host>[<path>]` followed by optional words: `exact` (the path exactly; by default
 * a prefix, matched segment by segment), `method:<METHOD>` (one of Gateway API's methods),
 * `header:<name>=<value>` (an exact header match, repeatable) and `query:<name>=<value>` (an exact match of
 * a query parameter, repeatable).
 *
 *     shop.localhost/api, shop.localhost/healthz exact, shop.localhost header:x-canary=yes,
 *     shop.localhost/upload method:POST, shop.localhost/search query:v=2
 *
 * A host without a path matches every path (with its headers, if any).
 */
import { HEADER_NAME_PATTERN, type Route } from '../messages/payloads.ts';
import { routeProblem } from '../messages/routes.ts';
import { normalizeHost } from './backend-settings.ts';

const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);

/** The routes of the text; throws an Error naming the entry that is wrong. */
export function parseRouteText(text: string): Route[] {
  const routes: Route[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [target = '', ...words] = entry.split(/\s+/);
    const slash = target.indexOf('/');
    const host = normalizeHost(slash < 0 ? target : target.slice(0, slash));
    if (host === undefined || host.includes(':')) throw new Error(`${JSON.stringify(entry)}: not a host`);
    const path = slash < 0 ? undefined : target.slice(slash);
    let exact = false;
    let method: string | undefined;
    const headers: { name: string; value: string }[] = [];
    const queryParams: { name: string; value: string }[] = [];
    for (const word of words) {
      if (word === 'exact') {
        if (path === undefined) throw new Error(`${JSON.stringify(entry)}: exact needs a path`);
        exact = true;
        continue;
      }
      if (word.startsWith('method:')) {
        if (method !== undefined) throw new Error(`${JSON.stringify(entry)}: more than one method`);
        method = word.slice('method:'.length);
        continue;
      }
      const q = /^query:([^=]+)=(.*)$/.exec(word);
      if (q) {
        queryParams.push({ name: q[1] ?? '', value: q[2] ?? '' });
        continue;
      }
      const m = /^header:([^=]+)=(.*)$/.exec(word);
      const name = m?.[1]?.toLowerCase();
      if (!m || name === undefined || !HEADER_NAME.test(name))
        throw new Error(
          `${JSON.stringify(entry)}: ${JSON.stringify(word)} is none of exact, method:<METHOD>, header:<name>=<value>, query:<name>=<value>`,
        );
      headers.push({ name, value: m[2] ?? '' });
    }
    const route = {
      host,
      ...(path === undefined ? {} : { path: { type: exact ? 'Exact' : 'PathPrefix', value: path } }),
      ...(method === undefined ? {} : { method }),
      ...(headers.length > 0 ? { headers } : {}),
      ...(queryParams.length > 0 ? { queryParams } : {}),
    } as Route;
    // Beyond the record's bounds, the record would be invalid and the backend left out of every table.
    const problem = routeProblem(route);
    if (problem !== undefined) throw new Error(`${JSON.stringify(entry)}: ${problem}`);
    routes.push(route);
  }
  return routes;
}
