/** The gRPC call host calls, as Envoy answers them when it knows no gRPC service or cluster by that name: the
 * host has no gRPC client, so no call ever starts. proxy-wasm-cpp-host (src/exports.cc `grpc_call`,
 * `grpc_stream`, `grpc_send`, `grpc_cancel`, `grpc_close`) checks the module's memory first; Envoy
 * (source/extensions/common/wasm/context.cc, `Context::grpcCall`/`grpcStream`) reads the service as a
 * `GrpcService` message, else as a cluster name: an unknown cluster is ParseFailure, and an empty service (an
 * empty, valid message naming no cluster) fails client creation, BadArgument. The token is written only on Ok.
 * `grpcSend` refuses a token that is not a stream's (BadArgument) and finds no stream (NotFound);
 * `grpcCancel`/`grpcClose` find no call or stream (NotFound), and refuse an http-call token (BadArgument). */
import { WasmResult as R } from './abi.ts';
import type { EnvHost } from './env-imports.ts';

/** cpp-host's callout ids: the low two bits say what the token is (`WasmBase::CalloutType`). */
const CALLOUT_MASK = 0x3;
const GRPC_CALL = 1;
const GRPC_STREAM = 2;

export function grpcCallImports(host: EnvHost): WebAssembly.Imports[string] {
  const { memory } = host;
  /** What Envoy answers for a service it cannot reach. */
  const start = (service: Uint8Array) => (service.length === 0 ? R.BadArgument : R.ParseFailure);
  return {
    proxy_grpc_call: (
      sp: number,
      sl: number,
      np: number,
      nl: number,
      mp: number,
      ml: number,
      ip: number,
      il: number,
      rp: number,
      rl: number,
      _timeoutMs: number,
      _outToken: number,
    ) => {
      const service = memory.bytes(sp, sl);
      if (
        !service ||
        !memory.fits(np, nl) ||
        !memory.fits(mp, ml) ||
        !memory.fits(ip, il) ||
        !memory.fits(rp, rl)
      )
        return R.InvalidMemoryAccess;
      return start(service);
    },
    proxy_grpc_stream: (
      sp: number,
      sl: number,
      np: number,
      nl: number,
      mp: number,
      ml: number,
      ip: number,
      il: number,
      _outToken: number,
    ) => {
      const service = memory.bytes(sp, sl);
      if (!service || !memory.fits(np, nl) || !memory.fits(mp, ml) || !memory.fits(ip, il))
        return R.InvalidMemoryAccess;
      return start(service);
    },
    proxy_grpc_send: (token: number, mp: number, ml: number, _endStream: number) => {
      if (!memory.fits(mp, ml)) return R.InvalidMemoryAccess;
      return ((token >>> 0) & CALLOUT_MASK) === GRPC_STREAM ? R.NotFound : R.BadArgument;
    },
    proxy_grpc_cancel: (token: number) => grpcEnd(token),
    proxy_grpc_close: (token: number) => grpcEnd(token),
  };
}

function grpcEnd(token: number): number {
  const type = (token >>> 0) & CALLOUT_MASK;
  return type === GRPC_CALL || type === GRPC_STREAM ? R.NotFound : R.BadArgument;
}
