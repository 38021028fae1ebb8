// Runs the filter's JSON parser on each request body and logs the value back in canonical form (or
// "invalid"), so the parser can be tested from the host.
import { BUFFER_HTTP_REQUEST_BODY, getBuffer, HostBytes, LOG_INFO, log } from '../assembly/abi';
import {
  JSON_ARRAY,
  JSON_BOOL,
  JSON_NULL,
  JSON_NUMBER,
  JSON_OBJECT,
  JsonValue,
  parseJson,
  quote,
} from '../assembly/json';

export { malloc } from '../assembly/abi';

function dump(v: JsonValue): string {
  if (v.kind == JSON_NULL) return 'null';
  if (v.kind == JSON_BOOL) return v.bool ? 'true' : 'false';
  if (v.kind == JSON_NUMBER) {
    return v.num == Math.floor(v.num) && Math.abs(v.num) < 1e15 ? (<i64>v.num).toString() : v.num.toString();
  }
  if (v.kind == JSON_ARRAY) {
    let out = '[';
    for (let i = 0; i < v.items.length; i++) out += (i > 0 ? ',' : '') + dump(v.items[i]);
    return `${out}]`;
  }
  if (v.kind == JSON_OBJECT) {
    let out = '{';
    for (let i = 0; i < v.items.length; i++)
      out += `${(i > 0 ? ',' : '') + quote(v.keys[i])}:${dump(v.items[i])}`;
    return `${out}}`;
  }
  return quote(v.str);
}

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_id: u32, _size: u32): bool {
  return true;
}

export function proxy_on_configure(_id: u32, _size: u32): bool {
  return true;
}

export function proxy_on_request_body(_contextId: u32, size: u32, _endOfStream: bool): i32 {
  const body = new HostBytes();
  getBuffer(BUFFER_HTTP_REQUEST_BODY, size, body);
  const v = parseJson(body.ptr, body.len);
  body.free();
  log(LOG_INFO, v === null ? 'invalid' : dump(v));
  return 0;
}
