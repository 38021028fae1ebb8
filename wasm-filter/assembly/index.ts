// Module entry: the proxy-wasm ABI 0.2.1 exports Envoy calls.
import {
  configure,
  forget,
  httpCallResponse,
  isRoot,
  requestBody,
  requestHeaders,
  rootCreated,
  rootGone,
  streamLogged,
  tick,
} from './filter';

export { malloc } from './abi';

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  if (parentId == 0) rootCreated(contextId);
}

export function proxy_on_vm_start(_rootId: u32, _vmConfigurationSize: u32): bool {
  return true;
}

export function proxy_on_configure(rootId: u32, configurationSize: u32): bool {
  return configure(rootId, configurationSize);
}

export function proxy_on_tick(rootId: u32): void {
  tick(rootId);
}

export function proxy_on_request_headers(contextId: u32, _headerCount: u32, _endOfStream: bool): i32 {
  return requestHeaders(contextId);
}

export function proxy_on_request_body(contextId: u32, _bodySize: u32, _endOfStream: bool): i32 {
  return requestBody(contextId);
}

export function proxy_on_log(contextId: u32): void {
  if (!isRoot(contextId)) streamLogged(contextId);
}

export function proxy_on_done(contextId: u32): bool {
  if (isRoot(contextId)) rootGone(contextId);
  else forget(contextId);
  return true;
}

export function proxy_on_delete(contextId: u32): void {
  if (isRoot(contextId)) rootGone(contextId);
  else forget(contextId);
}

export function proxy_on_http_call_response(
  rootId: u32,
  token: u32,
  headerCount: u32,
  bodySize: u32,
  _trailerCount: u32,
): void {
  httpCallResponse(rootId, token, headerCount, bodySize);
}
