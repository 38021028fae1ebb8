/** The host calls that act on the stream itself: continue, close and local reply. proxy-wasm-cpp-host refuses
 * a stream type past the enum (src/exports.cc `continue_stream`, `close_stream`: BadArgument); Envoy
 * (source/extensions/common/wasm/context.cc, `Context::continueStream`, `closeStream`, `sendLocalResponse`)
 * acts on an HTTP stream only from a stream context, after the callback has returned, and answers Ok from a
 * root context without doing anything; continuing a stream drops its request maps at once (headers, body,
 * trailers: later calls on them are BadArgument); continuing `Upstream` is Unimplemented. */
import { STREAM_REQUEST, STREAM_RESPONSE } from '../assembly/abi-numbers.ts';
import { WasmResult as R } from './abi.ts';
import type { EnvHost } from './env-imports.ts';
import { localReplyDetails } from './local-reply.ts';
import { decodePairsLoosely } from './pairs.ts';

/** WasmStreamType: Request, Response, Downstream, Upstream (MAX). */
const STREAM_DOWNSTREAM = 2;
const STREAM_UPSTREAM = 3;

export function streamImports(host: EnvHost): WebAssembly.Imports[string] {
  const { memory, streams } = host;
  const stream = () => streams.get(host.effectiveContext());
  return {
    proxy_continue_stream: (type: number) => {
      const t = type >>> 0;
      if (t > STREAM_UPSTREAM) return R.BadArgument;
      if (t === STREAM_UPSTREAM) return R.Unimplemented;
      if (t === STREAM_DOWNSTREAM) return R.Ok;
      const rec = stream();
      if (rec) {
        if (t === STREAM_REQUEST) host.defer(() => streams.resume(rec));
        else host.defer(() => streams.resumeResponse(rec));
        streams.dropRequestMaps(rec);
      }
      return R.Ok;
    },
    proxy_close_stream: (type: number) => {
      const t = type >>> 0;
      if (t > STREAM_UPSTREAM) return R.BadArgument;
      const rec = stream();
      if (rec && (t === STREAM_REQUEST || t === STREAM_RESPONSE)) host.defer(() => streams.reset(rec));
      return R.Ok;
    },
    proxy_send_local_response: (
      status: number,
      dp: number,
      dl: number,
      bp: number,
      bl: number,
      hp: number,
      hl: number,
      grpcStatus: number,
    ) => {
      const details = memory.string(dp, dl);
      const body = memory.bytes(bp, bl);
      const headerBytes = memory.bytes(hp, hl);
      if (details === undefined || !body || !headerBytes) return R.InvalidMemoryAccess;
      // As cpp-host's PairsUtil::toPairs: pairs that do not hold what their counts claim are no headers, not
      // a refusal; the reply is still sent.
      const headers = decodePairsLoosely(headerBytes);
      const rec = stream();
      // From a root context Envoy has no stream to answer: Ok, and nothing happens.
      if (!rec) return R.Ok;
      // Envoy replaces whitespace in the details; a gRPC status outside 0–16 (-1 included) is no status.
      const spaced = localReplyDetails(details);
      host.defer(() => streams.reply(rec, status >>> 0, spaced, body, headers, grpcStatus >>> 0));
      return R.Ok;
    },
  };
}
