// Route probe: reports what the host's cluster model shows a stream (xds.cluster_name, xds.route_name) and
// what an http call to a cluster gives (the result of proxy_http_call, then the response or failure), one
// proxy_log line per fact. Request headers: `x-call: <cluster>` makes a call (`x-method`, default HEAD;
// `x-timeout`, default 1000 ms); every stream goes on (Continue).
import {
  getHeader,
  HostBytes,
  httpCall,
  LOG_INFO,
  log,
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  MAP_REQUEST_HEADERS,
  proxy_get_property,
  proxy_get_status,
} from '../assembly/abi';

export { malloc } from '../assembly/abi';

const OUT = memory.data(16);

function note(s: string): void {
  log(LOG_INFO, s);
}

function header(map: i32, name: string): string {
  const v = new HostBytes();
  if (!getHeader(map, String.UTF8.encode(name), v)) return '<none>';
  const s = v.toString();
  v.free();
  return s;
}

function property(path: string): string {
  const p = String.UTF8.encode(path);
  const r = proxy_get_property(changetype<usize>(p), p.byteLength, OUT, OUT + 4);
  if (r != 0) return `<${r.toString()}>`;
  return String.UTF8.decodeUnsafe(load<u32>(OUT), load<u32>(OUT + 4));
}

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_id: u32, _size: u32): bool {
  return true;
}

export function proxy_on_configure(_id: u32, _size: u32): bool {
  return true;
}

export function proxy_on_context_create(_id: u32, _parent: u32): void {}

export function proxy_on_request_headers(contextId: u32, _headers: u32, _end: bool): i32 {
  note(
    `route ${contextId.toString()} cluster ${property('xds\0cluster_name')} name ${property('xds\0route_name')}`,
  );
  const cluster = header(MAP_REQUEST_HEADERS, 'x-call');
  if (cluster != '<none>') {
    const method = header(MAP_REQUEST_HEADERS, 'x-method');
    const timeout = header(MAP_REQUEST_HEADERS, 'x-timeout');
    const token = httpCall(
      cluster,
      [':method', method == '<none>' ? 'HEAD' : method, ':path', '/', ':authority', 'svc', ':scheme', 'http'],
      '',
      timeout == '<none>' ? 1000 : <u32>I32.parseInt(timeout),
    );
    note(`call ${cluster} ${token < 0 ? `error ${(-1 - token).toString()}` : `token ${token.toString()}`}`);
  }
  return 0;
}

export function proxy_on_http_call_response(
  _id: u32,
  token: u32,
  headers: u32,
  bodySize: u32,
  _trailers: u32,
): void {
  proxy_get_status(OUT, OUT + 4, OUT + 8);
  const message = String.UTF8.decodeUnsafe(load<u32>(OUT + 4), load<u32>(OUT + 8));
  note(
    `response ${token.toString()} ${headers.toString()} ${header(MAP_HTTP_CALL_RESPONSE_HEADERS, ':status')} ` +
      `${header(MAP_HTTP_CALL_RESPONSE_HEADERS, 'content-type')} ` +
      `upstream ${header(MAP_HTTP_CALL_RESPONSE_HEADERS, 'x-envoy-upstream-service-time')} ` +
      `body ${bodySize.toString()} code ${load<u32>(OUT).toString()} ${message}`,
  );
}
