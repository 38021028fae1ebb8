/** The answer a stream gets when the module replies itself (`proxy_send_local_response`) or the VM has
 * failed, shaped as Envoy sends it: to a gRPC client as HTTP 200 with the status in grpc-status. */
import {
  GRPC_INTERNAL,
  GRPC_PERMISSION_DENIED,
  GRPC_UNAUTHENTICATED,
  GRPC_UNAVAILABLE,
  GRPC_UNIMPLEMENTED,
  GRPC_UNKNOWN,
} from '../assembly/abi-numbers.ts';
import type { HeaderPairs } from './pairs.ts';

/** The module answered itself, or Envoy did (a failed VM's 503 `wasm_fail_stream`, the stream idle timeout's 504). */
export type LocalReply = {
  kind: 'local-reply';
  status: number;
  headers: HeaderPairs;
  body: Uint8Array;
  details: string;
  grpcStatus: number | undefined;
};

/** The gRPC status codes (as grpc-status carries them) a local reply may get without an explicit one. */
const GrpcStatus = {
  Unknown: GRPC_UNKNOWN,
  PermissionDenied: GRPC_PERMISSION_DENIED,
  Unimplemented: GRPC_UNIMPLEMENTED,
  Internal: GRPC_INTERNAL,
  Unavailable: GRPC_UNAVAILABLE,
  Unauthenticated: GRPC_UNAUTHENTICATED,
} as const;

const GRPC = 'application/grpc';
/** Envoy's WellKnownGrpcStatus::MaximumKnown (Unauthenticated). */
const GRPC_MAXIMUM_KNOWN = 16;

/** As Envoy's Grpc::Common::hasGrpcContentType: `application/grpc` exactly or followed by `+`, case-sensitive
 * (so not `application/grpc;…`, `Application/GRPC` or `application/grpc-web`). */
export function isGrpc(headers: HeaderPairs): boolean {
  const ct = headers.find(([k]) => k === 'content-type')?.[1];
  return ct?.startsWith(GRPC) === true && (ct.length === GRPC.length || ct[GRPC.length] === '+');
}

/** As Envoy's Http::Utility::PercentEncoding::encode with its default reserved set (`%`), which the local
 * reply uses for grpc-message: each byte below 0x20 or from 0x7e (`~`) up, and `%`, becomes %XX (uppercase
 * hex); everything else, spaces included, stays as it is. Works on the body's bytes, so it needs no UTF-8. */
export function grpcMessage(body: Uint8Array): string {
  let out = '';
  for (const b of body) {
    out +=
      b < 0x20 || b >= 0x7e || b === 0x25
        ? `%${b.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(b);
  }
  return out;
}

/** As StringUtil::replaceAllEmptySpace, which Envoy's wasm sendLocalResponse applies to the details: each of
 * space, \t, \f, \v, \n and \r becomes `_`. */
export function localReplyDetails(details: string): string {
  return details.replace(/[ \t\f\v\n\r]/g, '_');
}

/** Envoy's mapping of an HTTP status to a gRPC status for local replies without an explicit one. */
function grpcStatusFor(httpStatus: number): number {
  const map: Record<number, number> = {
    400: GrpcStatus.Internal,
    401: GrpcStatus.Unauthenticated,
    403: GrpcStatus.PermissionDenied,
    404: GrpcStatus.Unimplemented,
    429: GrpcStatus.Unavailable,
    502: GrpcStatus.Unavailable,
    503: GrpcStatus.Unavailable,
    504: GrpcStatus.Unavailable,
  };
  return map[httpStatus] ?? GrpcStatus.Unknown;
}

/** The reply to a request with these headers when the module asks for status, details, body, extra headers
 * and a gRPC status as the ABI's u32: Envoy uses it only when it is a known status (0–16); anything else,
 * -1 (as the SDKs pass "none") included, means none given and the status comes from the HTTP status. */
export function localReply(
  requestHeaders: HeaderPairs,
  status: number,
  details: string,
  body: Uint8Array,
  extra: HeaderPairs,
  grpcStatus: number,
): LocalReply {
  const headers: HeaderPairs = [];
  let outBody = body;
  let outStatus = status;
  let outGrpc: number | undefined;
  if (isGrpc(requestHeaders)) {
    // A gRPC client gets HTTP 200 with the status in grpc-status and the body as grpc-message.
    const given = grpcStatus >>> 0;
    outGrpc = given <= GRPC_MAXIMUM_KNOWN ? given : grpcStatusFor(status);
    outStatus = 200;
    headers.push(['content-type', 'application/grpc'], ['grpc-status', String(outGrpc)]);
    if (body.length > 0) headers.push(['grpc-message', grpcMessage(body)]);
    outBody = new Uint8Array(0);
  } else if (body.length > 0 && !extra.some(([k]) => k === 'content-type')) {
    headers.push(['content-type', 'text/plain']);
  }
  for (const [k, v] of extra) headers.push([k.toLowerCase(), v]);
  return {
    kind: 'local-reply',
    status: outStatus,
    headers,
    body: outBody,
    details,
    grpcStatus: outGrpc,
  };
}
