/** The gRPC demo's messages (examples/echo.proto): `demo.Msg { bytes data = 1; }`, length-prefixed and
 * uncompressed on the wire. Shared by the demo backend and the tests' client. */
/** `demo.Msg` with its data: field 1, length-delimited. */
function encodeMsg(data: Buffer): Buffer {
  const len: number[] = [];
  let n = data.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x0a, ...len]), data]);
}

/** The data of a `demo.Msg` (empty for an empty message). */
export function decodeMsg(msg: Buffer): Buffer {
  if (msg.length === 0 || msg[0] !== 0x0a) return Buffer.alloc(0);
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < msg.length; i++) {
    const b = msg[i] as number;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) break;
  }
  return msg.subarray(i + 1, i + 1 + len);
}

/** A gRPC length-prefixed message, uncompressed. */
export function frame(data: Buffer): Buffer {
  const msg = encodeMsg(data);
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** Calls `onMessage` with the data of each whole message as a stream's bytes arrive (either side's). */
export function readMessages(stream: NodeJS.ReadableStream, onMessage: (data: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const size = pending.readUInt32BE(1);
      if (pending.length < 5 + size) break;
      onMessage(decodeMsg(pending.subarray(5, 5 + size)));
      pending = pending.subarray(5 + size);
    }
  });
}
