/** Header pairs as proxy-wasm ABI 0.2.1 lays them out: u32 count, (u32 key length, u32 value length) per
 * pair, then each key and each value as bytes followed by a NUL (lengths exclude the NUL). */
export type HeaderPairs = [name: string, value: string][];

/** The first value of a header (names as the pairs hold them: lowercase), or undefined. */
export function header(pairs: HeaderPairs, name: string): string | undefined {
  return pairs.find(([k]) => k === name)?.[1];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodePairs(pairs: HeaderPairs): Uint8Array {
  const parts = pairs.map(([k, v]) => [encoder.encode(k), encoder.encode(v)] as const);
  let size = 4 + parts.length * 8;
  for (const [k, v] of parts) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, parts.length, true);
  let p = 4 + parts.length * 8;
  parts.forEach(([k, v], i) => {
    view.setUint32(4 + i * 8, k.length, true);
    view.setUint32(8 + i * 8, v.length, true);
    out.set(k, p);
    p += k.length + 1;
    out.set(v, p);
    p += v.length + 1;
  });
  return out;
}

/** Decodes pairs; throws RangeError when the bytes do not hold what their counts claim. */
export function decodePairs(bytes: Uint8Array): HeaderPairs {
  if (bytes.length === 0) return [];
  if (bytes.length < 4) throw new RangeError('header pairs: truncated count');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  let p = 4 + count * 8;
  if (p > bytes.length) throw new RangeError('header pairs: truncated lengths');
  const pairs: HeaderPairs = [];
  for (let i = 0; i < count; i++) {
    const klen = view.getUint32(4 + i * 8, true);
    const vlen = view.getUint32(8 + i * 8, true);
    if (p + klen + vlen + 2 > bytes.length) throw new RangeError('header pairs: truncated data');
    const key = decoder.decode(bytes.subarray(p, p + klen));
    p += klen + 1;
    const value = decoder.decode(bytes.subarray(p, p + vlen));
    p += vlen + 1;
    pairs.push([key, value]);
  }
  return pairs;
}

/** As cpp-host's PairsUtil::toPairs: bytes that do not hold what their counts claim are no pairs, not an
 * error. */
export function decodePairsLoosely(bytes: Uint8Array): HeaderPairs {
  try {
    return decodePairs(bytes);
  } catch {
    return [];
  }
}
