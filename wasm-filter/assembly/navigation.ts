// What kind of request this is, for a backend's `strategy`: a browser's navigation (given the waiting page
// while the backend sleeps), the page's own wait for readiness (`x-wakegate-wait`), the page refreshing
// itself without JavaScript, a request no-wake rules exempt (no-wake.ts), or any other request (held).
import { getHeader, HostBytes, MAP_REQUEST_HEADERS } from './abi';
import { backends } from './backends';
import { isNoWake } from './no-wake';

/** `auto` (default): the page for browser navigations, every other request held. */
export const STRATEGY_AUTO: i32 = 0;
/** `hold`: every request held, navigations too. */
export const STRATEGY_HOLD: i32 = 1;
/** `page`: the page for every GET that takes HTML and is not a script's (fetch, XMLHttpRequest). */
export const STRATEGY_PAGE: i32 = 2;

/** A strategy by its name; an unknown one (from a newer bridge) counts as `auto`. */
export function strategyNamed(name: string): i32 {
  if (name == 'hold') return STRATEGY_HOLD;
  if (name == 'page') return STRATEGY_PAGE;
  return STRATEGY_AUTO;
}

/** Held as any request: released to the backend. */
export const HELD_PLAIN: u8 = 0;
/** The page's wait: answered 204 by the filter when the backend is ready, never released to it. */
export const HELD_WAIT: u8 = 1;
/** The page refreshing itself (no JavaScript): released to the backend, and given the page again at its
 * max wait rather than a 504. */
export const HELD_REFRESH: u8 = 2;

/** Any other request: held while the backend sleeps. */
export const REQUEST_PLAIN: i32 = 0;
/** A no-wake request (bot, health check): never wakes, never counts as activity. */
export const REQUEST_NO_WAKE: i32 = 1;
/** The waiting page's `x-wakegate-wait`. */
export const REQUEST_WAIT: i32 = 2;
/** A navigation to a sleeping backend: gets the waiting page. */
export const REQUEST_PAGE: i32 = 3;
/** The waiting page's `<noscript>` refresh: a navigation to the URL it came from, held. */
export const REQUEST_REFRESH: i32 = 4;

const K_WAIT = String.UTF8.encode('x-wakegate-wait');
const K_METHOD = String.UTF8.encode(':method');
const K_SCHEME = String.UTF8.encode(':scheme');
const K_AUTHORITY = String.UTF8.encode(':authority');
const K_PATH = String.UTF8.encode(':path');
const K_REFERER = String.UTF8.encode('referer');
const K_ACCEPT = String.UTF8.encode('accept');
const K_CONTENT_TYPE = String.UTF8.encode('content-type');
const K_REQUESTED_WITH = String.UTF8.encode('x-requested-with');
const K_FETCH_MODE = String.UTF8.encode('sec-fetch-mode');
const K_FETCH_DEST = String.UTF8.encode('sec-fetch-dest');

const value = new HostBytes();

/** A request header's value ('' when absent: absent and empty are told apart by `has`). */
function header(key: ArrayBuffer): string {
  if (!getHeader(MAP_REQUEST_HEADERS, key, value)) return '';
  const s = value.toString();
  value.free();
  return s;
}

function has(key: ArrayBuffer): bool {
  const found = getHeader(MAP_REQUEST_HEADERS, key, value);
  value.free();
  return found;
}

/** The request's kind, for the backend at `index`. A ready backend's requests cost two header reads more
 * than before (the wait header, the user agent); the navigation's headers are read only while it sleeps. */
export function classify(index: i32): i32 {
  if (has(K_WAIT)) return REQUEST_WAIT;
  const b = backends[index];
  if (isNoWake(b)) return REQUEST_NO_WAKE;
  if (b.ready || b.strategy == STRATEGY_HOLD || !isNavigation(b.strategy)) return REQUEST_PLAIN;
  return isRefresh() ? REQUEST_REFRESH : REQUEST_PAGE;
}

/** A browser's navigation: a GET whose `sec-fetch-mode` is `navigate` or `sec-fetch-dest` is `document`;
 * without those headers, one whose `accept` prefers `text/html` (`page`: lists it). Scripts' requests
 * (`x-requested-with`, fetch's other modes) and gRPC never are. */
function isNavigation(strategy: i32): bool {
  if (header(K_METHOD) != 'GET') return false;
  if (has(K_REQUESTED_WITH) || header(K_CONTENT_TYPE).startsWith('application/grpc')) return false;
  const mode = has(K_FETCH_MODE);
  const dest = has(K_FETCH_DEST);
  if (mode || dest) {
    return (
      header(K_FETCH_MODE).toLowerCase() == 'navigate' || header(K_FETCH_DEST).toLowerCase() == 'document'
    );
  }
  return acceptsHtml(header(K_ACCEPT), strategy == STRATEGY_PAGE);
}

/** The quality of one media range of `accept` (1 without `q`, 0 when malformed). */
function quality(params: string[]): f64 {
  for (let i = 1; i < params.length; i++) {
    const p = params[i].trim().toLowerCase();
    if (!p.startsWith('q=')) continue;
    const q = parseFloat(p.substring(2));
    return q > 0 ? min(q, 1.0) : 0;
  }
  return 1;
}

/** Whether `accept` prefers `text/html`: listed with a quality above 0 and at least every other range's,
 * and first among those of that quality. With `listed`, any quality above 0 does. */
export function acceptsHtml(accept: string, listed: bool): bool {
  const ranges = accept.split(',');
  let html: f64 = -1;
  let htmlFirst = false;
  let best: f64 = -1;
  for (let i = 0; i < ranges.length; i++) {
    const params = ranges[i].split(';');
    const type = params[0].trim().toLowerCase();
    if (type.length == 0) continue;
    const q = quality(params);
    if (type == 'text/html') {
      if (html < 0) {
        html = q;
        htmlFirst = q > best;
      }
    } else if (q > best) {
      best = q;
    }
  }
  if (html <= 0) return false;
  return listed || (html >= best && htmlFirst);
}

/** The page's `<noscript>` refresh: a navigation whose referer is the URL it asks for. */
function isRefresh(): bool {
  const referer = header(K_REFERER);
  if (referer.length == 0) return false;
  return referer == `${header(K_SCHEME)}://${header(K_AUTHORITY)}${header(K_PATH)}`;
}
