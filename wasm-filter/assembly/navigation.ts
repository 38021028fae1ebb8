// What kind of request this is, for a backend's `strategy`: a browser's navigation (given the waiting page
// while the backend sleeps), the page's own wait for readiness (`x-wakegate-wait`), the page refreshing
// itself without JavaScript, a request no-wake rules exempt (no-wake.ts), or any other request (held).

import { getHeader, HostBytes, MAP_REQUEST_HEADERS } from './abi';
import { backends } from './backends';
import { lowerAscii } from './bytes';
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
const K_AUTHORITY = String.UTF8.encode(':authority');
const K_PATH = String.UTF8.encode(':path');
const K_REFERER = String.UTF8.encode('referer');
const K_ACCEPT = String.UTF8.encode('accept');
const K_CONTENT_TYPE = String.UTF8.encode('content-type');
const K_REQUESTED_WITH = String.UTF8.encode('x-requested-with');
const K_FETCH_MODE = String.UTF8.encode('sec-fetch-mode');
const K_FETCH_DEST = String.UTF8.encode('sec-fetch-dest');

const value = new HostBytes();

/** Whether the request has the header (its value not kept). */
function has(key: ArrayBuffer): bool {
  const found = getHeader(MAP_REQUEST_HEADERS, key, value);
  value.free();
  return found;
}

/** Whether bytes [start, end) of `value` are `ascii` (lowercase), case ignored, in place. */
function bytesAre(start: i32, end: i32, ascii: string): bool {
  if (end - start != ascii.length) return false;
  for (let i = 0; i < ascii.length; i++) {
    if (<i32>lowerAscii(load<u8>(value.ptr + start + i)) != ascii.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether the header's value is `ascii` (lowercase; case ignored), or starts with it (`prefix`). */
function headerIs(key: ArrayBuffer, ascii: string, prefix: bool = false): bool {
  if (!getHeader(MAP_REQUEST_HEADERS, key, value)) return false;
  const len = <i32>value.len;
  const is = prefix ? len >= ascii.length && bytesAre(0, ascii.length, ascii) : bytesAre(0, len, ascii);
  value.free();
  return is;
}

/** The request's kind, for the backend at `index`. A ready backend's request costs one header read more
 * than before (the user agent, for the no-wake rules); the others are read only while it sleeps, and read
 * in place: holding a request allocates nothing more than before. */
export function classify(index: i32): i32 {
  const b = backends[index];
  if (isNoWake(b)) return REQUEST_NO_WAKE;
  if (b.ready) return REQUEST_PLAIN;
  if (has(K_WAIT)) return REQUEST_WAIT;
  if (b.strategy == STRATEGY_HOLD || !isNavigation(b.strategy)) return REQUEST_PLAIN;
  return isRefresh() ? REQUEST_REFRESH : REQUEST_PAGE;
}

/** A browser's navigation: a GET whose `sec-fetch-mode` is `navigate` or `sec-fetch-dest` is `document`;
 * without those headers, one whose `accept` prefers `text/html` (`page`: lists it). Scripts' requests
 * (`x-requested-with`, fetch's other modes) and gRPC never are. */
function isNavigation(strategy: i32): bool {
  if (!headerIs(K_METHOD, 'get') || has(K_REQUESTED_WITH)) return false;
  if (headerIs(K_CONTENT_TYPE, 'application/grpc', true)) return false;
  if (has(K_FETCH_MODE) || has(K_FETCH_DEST)) {
    return headerIs(K_FETCH_MODE, 'navigate') || headerIs(K_FETCH_DEST, 'document');
  }
  if (!getHeader(MAP_REQUEST_HEADERS, K_ACCEPT, value)) return false;
  const html = acceptsHtml(strategy == STRATEGY_PAGE);
  value.free();
  return html;
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09;
}

/** Where acceptsHtml is in `value`. */
let at: i32 = 0;

/** A quality value at `at` (`0`, `1`, `0.5`, `1.000`…), up to the next `;` or `,`; 0 when malformed. */
function quality(end: i32): f64 {
  let q: f64 = 0;
  let scale: f64 = 0;
  let digits = 0;
  let ok = true;
  while (at < end) {
    const c = load<u8>(value.ptr + at);
    if (c == 0x3b || c == 0x2c) break;
    at++;
    if (isSpace(c)) continue;
    if (c == 0x2e && scale == 0 && digits > 0) scale = 0.1;
    else if (c >= 0x30 && c <= 0x39) {
      digits++;
      if (scale == 0) q = q * 10 + <f64>(c - 0x30);
      else {
        q += <f64>(c - 0x30) * scale;
        scale /= 10;
      }
    } else ok = false;
  }
  return ok && digits > 0 ? min(q, 1.0) : 0;
}

/** Whether the `accept` in `value` prefers `text/html`: listed with a quality above 0 and at least every
 * other range's, and first among those of that quality. With `listed`, any quality above 0 does. Read in
 * place. */
function acceptsHtml(listed: bool): bool {
  const end = <i32>value.len;
  let html: f64 = -1;
  let htmlFirst = false;
  let best: f64 = -1;
  at = 0;
  while (at < end) {
    while (at < end && isSpace(load<u8>(value.ptr + at))) at++;
    const typeStart = at;
    while (at < end && load<u8>(value.ptr + at) != 0x2c && load<u8>(value.ptr + at) != 0x3b) at++;
    let typeEnd = at;
    while (typeEnd > typeStart && isSpace(load<u8>(value.ptr + typeEnd - 1))) typeEnd--;
    let q: f64 = 1;
    while (at < end && load<u8>(value.ptr + at) == 0x3b) {
      at++;
      while (at < end && isSpace(load<u8>(value.ptr + at))) at++;
      if (
        at + 1 < end &&
        lowerAscii(load<u8>(value.ptr + at)) == 0x71 &&
        load<u8>(value.ptr + at + 1) == 0x3d
      ) {
        at += 2;
        q = quality(end);
      } else {
        while (at < end && load<u8>(value.ptr + at) != 0x2c && load<u8>(value.ptr + at) != 0x3b) at++;
      }
    }
    at++;
    if (typeEnd == typeStart) continue;
    if (bytesAre(typeStart, typeEnd, 'text/html')) {
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

function header(key: ArrayBuffer): string {
  if (!getHeader(MAP_REQUEST_HEADERS, key, value)) return '';
  const s = value.toString();
  value.free();
  return s;
}

/** The page's `<noscript>` refresh: a navigation whose referer is the URL it asks for, its scheme left out
 * (behind a proxy that ends TLS, the browser's `https` is Envoy's `http`). Only navigations to a sleeping
 * backend get here: the strings it makes cost nothing on the paths that matter. */
function isRefresh(): bool {
  const referer = header(K_REFERER);
  const rest = referer.indexOf('://');
  if (rest < 0) return false;
  return referer.substring(rest + 3) == `${header(K_AUTHORITY)}${header(K_PATH)}`;
}
