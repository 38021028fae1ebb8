/** Comparisons of backend routes (payloads.ts `Route`), shared by the watcher, the bridge and host ownership. */
import type { Route } from './payloads.ts';

/**
 * What a route matches, as text: equal for two routes that match the same requests of their host (a
 * prefix's trailing `/` and the order of its headers do not count; no path is the prefix `/`).
 */
export function routeMatchKey(route: Route): string {
  const type = route.path?.type ?? 'PathPrefix';
  let value = route.path?.value ?? '/';
  if (type === 'PathPrefix') value = value.replace(/\/+$/, '');
  const headers = (route.headers ?? []).map((h) => `${h.name}=${h.value}`).sort();
  return JSON.stringify([type, value, headers]);
}

function sameRoute(a: Route, b: Route): boolean {
  if (a.host !== b.host || a.path?.type !== b.path?.type || a.path?.value !== b.path?.value) return false;
  const ah = a.headers ?? [];
  const bh = b.headers ?? [];
  return ah.length === bh.length && ah.every((h, i) => h.name === bh[i]?.name && h.value === bh[i]?.value);
}

/** The same routes in the same order; undefined and empty are the same. */
export function sameRoutes(a: readonly Route[] | undefined, b: readonly Route[] | undefined): boolean {
  if (a === b) return true;
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((route, i) => sameRoute(route, y[i] as Route));
}
