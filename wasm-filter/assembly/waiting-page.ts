// The waiting page: what a browser's navigation to a sleeping backend gets at once instead of a blank tab.
// Its script asks the same URL again with `x-wakegate-wait`; the filter holds that request until the
// backend is ready (and its route open) and answers it 204 itself, and the page reloads into the site. Without
// JavaScript, a `<noscript>` refresh asks the URL again at once, and that navigation is held and released
// to the backend (navigation.ts: REQUEST_REFRESH). Either way one request reaches the backend.
import {
  GRPC_NONE,
  getHeader,
  MAP_REQUEST_HEADERS,
  proxy_increment_metric,
  proxy_record_metric,
  scratch,
  sendLocalResponse,
} from './abi';
import { Backend, backends } from './backends';
import { currentConfig } from './config';
import { MAX_AUTHORITY_BYTES, MAX_HOST_BYTES } from './hosts';
import { metricPages, metricPageToReadyMs } from './metrics';

/** The default page (under 4 KiB): the host named, a live region for the status, a spinner that stops for
 * `prefers-reduced-motion`, no external resource (an empty data: icon, so the browser does not ask the
 * sleeping backend for its favicon). `{{host}}` is the request's host, HTML-escaped. */
export const DEFAULT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="same-origin"><link rel="icon" href="data:,">
<title>Starting {{host}}</title><noscript><meta http-equiv="refresh" content="0"></noscript>
<style>body{margin:0;min-height:100vh;display:grid;place-items:center;font:17px/1.5 system-ui,sans-serif;background:#f4f6f9;color:#1c2330;text-align:center}
i{display:block;width:44px;height:44px;margin:0 auto 24px;border:5px solid #cdd5e3;border-top-color:#2a64d6;border-radius:50%;animation:r .9s linear infinite}
@keyframes r{to{transform:rotate(1turn)}}@media (prefers-reduced-motion:reduce){i{animation:none;border-color:#2a64d6}}
@media (prefers-color-scheme:dark){body{background:#141a24;color:#e7ebf2}}h1{margin:0 0 8px;font-size:1.35rem;overflow-wrap:anywhere}main{max-width:34rem;padding:2rem}</style></head>
<body><main><i aria-hidden="true"></i><h1>Starting {{host}}</h1>
<p id="s" role="status" aria-live="polite">The site is waking up. This page turns into it as soon as it is ready.</p></main>
<script>(function(){var s=document.getElementById('s'),d=1000;
function again(m){s.textContent=m+' Trying again in '+d/1000+' s.';setTimeout(wait,d);d=Math.min(d*2,30000)}
function wait(){fetch(location.href,{headers:{'x-wakegate-wait':'1'},cache:'no-store'}).then(function(r){
if(r.status===204||!r.headers.get('x-wakegate')){s.textContent='Ready. Loading the site…';location.reload()}
else again(r.status===504?'The site is taking longer than usual to start.':'The site did not answer.')},function(){again('The connection was interrupted.')})}
wait()})()</script></body></html>
`;

/** The largest custom page accepted (`page_html`), in UTF-8 bytes. */
export const MAX_PAGE_BYTES: i32 = 65536;

/** Why a custom page is refused ('' when it is fine): empty, too large, or a `{{…}}` other than `{{host}}`. */
export function pageProblem(html: string): string {
  if (html.length == 0) return 'must not be empty';
  const bytes = String.UTF8.byteLength(html);
  if (bytes > MAX_PAGE_BYTES) {
    return `${bytes.toString()} bytes is larger than ${MAX_PAGE_BYTES.toString()}`;
  }
  let at = html.indexOf('{{');
  while (at >= 0) {
    if (html.substr(at, 8) != '{{host}}') {
      const end = html.indexOf('}}', at);
      const shown = end < 0 ? html.substr(at, 20) : html.substring(at, end + 2);
      return `unknown placeholder ${shown} (only {{host}} is replaced)`;
    }
    at = html.indexOf('{{', at + 8);
  }
  return '';
}

function escapeHtml(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c == '&') out += '&amp;';
    else if (c == '<') out += '&lt;';
    else if (c == '>') out += '&gt;';
    else if (c == '"') out += '&quot;';
    else if (c == "'") out += '&#39;';
    else out += c;
  }
  return out;
}

const K_AUTHORITY = String.UTF8.encode(':authority');

/** The request's host as the page names it: `:authority` without its port; empty when longer than any
 * hostname (the request matched a managed host, so anything longer is junk around it). */
function requestHost(): string {
  if (!getHeader(MAP_REQUEST_HEADERS, K_AUTHORITY, scratch)) return '';
  const authority = scratch.len <= MAX_AUTHORITY_BYTES ? scratch.toString() : '';
  scratch.free();
  const colon = authority.lastIndexOf(':');
  const host = colon > 0 && authority.indexOf(']', colon) < 0 ? authority.substring(0, colon) : authority;
  return <usize>String.UTF8.byteLength(host) <= MAX_HOST_BYTES ? host : '';
}

/** Per backend index, the backend and the filter time of its first page since it last slept: the page-to-
 * ready histogram's start. A reused index holds another Backend object, whose start is its own. */
const pagedBackend: Array<Backend | null> = [];
const pagedSince: f64[] = [];

/** Sends the waiting page to the stream of the effective context. */
export function servePage(index: i32, now: f64): void {
  proxy_increment_metric(metricPages, 1);
  while (pagedBackend.length <= index) {
    pagedBackend.push(null);
    pagedSince.push(0);
  }
  const b = backends[index];
  if (pagedBackend[index] !== b) {
    pagedBackend[index] = b;
    pagedSince[index] = now;
  }
  const config = currentConfig();
  const page = config.pageHtml.length > 0 ? config.pageHtml : DEFAULT_PAGE;
  sendLocalResponse(
    503,
    'wakegate_waiting_page',
    // Not `replaceAll`: AssemblyScript 0.28's grows its output once per match, by doubling, and writes past
    // the end when the replacement is longer than that (a long escaped host, a short custom page).
    page.split('{{host}}').join(escapeHtml(requestHost())),
    [
      'content-type',
      'text/html; charset=utf-8',
      'cache-control',
      'no-store',
      'retry-after',
      '5',
      'x-wakegate',
      'waiting',
    ],
    GRPC_NONE,
  );
}

/** The backend turned ready: the time since its first page (if it served one while asleep) is recorded. */
export function pagedBackendReady(index: i32, now: f64): void {
  if (index >= pagedBackend.length || pagedBackend[index] !== backends[index]) return;
  pagedBackend[index] = null;
  const waited = now - pagedSince[index];
  proxy_record_metric(metricPageToReadyMs, waited < 0 ? 0 : <i64>waited);
}

/** The page's wait, answered when its backend's held requests are released: 204, and the page reloads into
 * the site. (A wait that comes when the backend is ready already goes to it: the filter does not read the
 * header on that path, and the page reloads on any answer that is not the filter's.) */
export function answerReady(): void {
  sendLocalResponse(
    204,
    'wakegate_ready',
    '',
    ['cache-control', 'no-store', 'x-wakegate', 'ready'],
    GRPC_NONE,
  );
}
