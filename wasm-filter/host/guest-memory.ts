/** The module's linear memory as the host reads and writes it: every access bounds-checked, views that follow
 * the memory when it grows, and bytes handed to the module in memory it allocates itself. */
import { WasmResult } from './abi.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class GuestMemory {
  #memory!: WebAssembly.Memory;
  #malloc!: (size: number) => number;
  #u8 = new Uint8Array(0);
  #dv = new DataView(new ArrayBuffer(0));

  /** The instance's exported memory and allocator, once it is instantiated. */
  attach(memory: WebAssembly.Memory, malloc: (size: number) => number): void {
    this.#memory = memory;
    this.#malloc = malloc;
  }

  get byteLength(): number {
    return this.#memory.buffer.byteLength;
  }

  #view(): Uint8Array {
    // Growing the memory detaches the old buffer, which leaves our view empty.
    if (this.#u8.length === 0) {
      this.#u8 = new Uint8Array(this.#memory.buffer);
      this.#dv = new DataView(this.#memory.buffer);
    }
    return this.#u8;
  }

  /** Whether ptr..ptr+len lies inside the memory (and the views are current). */
  fits(ptr: number, len: number): boolean {
    return ptr >= 0 && len >= 0 && ptr + len <= this.#view().length;
  }

  /** A copy of the bytes, or undefined when they lie outside the memory. */
  bytes(ptr: number, len: number): Uint8Array | undefined {
    return this.fits(ptr, len) ? this.#view().slice(ptr, ptr + len) : undefined;
  }

  /** The bytes themselves (writing to them writes to the module's memory), or undefined out of bounds. */
  window(ptr: number, len: number): Uint8Array | undefined {
    return this.fits(ptr, len) ? this.#view().subarray(ptr, ptr + len) : undefined;
  }

  /** The bytes decoded as UTF-8, or undefined when they lie outside the memory. */
  string(ptr: number, len: number): string | undefined {
    if (!this.fits(ptr, len)) return undefined;
    const mem = this.#view();
    // Header names and most values are short ASCII: cheaper than a TextDecoder round trip.
    if (len <= 64) {
      let out = '';
      for (let i = ptr; i < ptr + len; i++) {
        const c = mem[i] as number;
        if (c >= 0x80) return decoder.decode(mem.subarray(ptr, ptr + len));
        out += String.fromCharCode(c);
      }
      return out;
    }
    return decoder.decode(mem.subarray(ptr, ptr + len));
  }

  /** Whether the bytes at ptr spell the (lowercase) header name, ignoring ASCII case. Only after `fits`
   * said yes for the same bytes: the hot path of every filter, so it checks nothing itself. */
  keyIs(ptr: number, len: number, name: string): boolean {
    if (name.length !== len) return false;
    const mem = this.#u8;
    for (let i = 0; i < len; i++) {
      let c = mem[ptr + i] as number;
      if (c >= 0x41 && c <= 0x5a) c += 32;
      if (c !== name.charCodeAt(i)) return false;
    }
    return true;
  }

  /** A little-endian u32; only after `fits` said yes for its 4 bytes. */
  readU32(ptr: number): number {
    return this.#dv.getUint32(ptr, true);
  }

  /** Writes a little-endian u32; false when it does not fit. */
  writeU32(ptr: number, value: number): boolean {
    if (!this.fits(ptr, 4)) return false;
    this.#dv.setUint32(ptr, value, true);
    return true;
  }

  /** Writes a little-endian u64; false when it does not fit. */
  writeU64(ptr: number, value: bigint): boolean {
    if (!this.fits(ptr, 8)) return false;
    this.#dv.setBigUint64(ptr, value, true);
    return true;
  }

  /** Hands bytes to the module in memory it allocated itself (ptr 0, len 0 when empty). */
  give(bytes: Uint8Array, outPtr: number, outLen: number): number {
    if (!this.fits(outPtr, 4) || !this.fits(outLen, 4)) return WasmResult.InvalidMemoryAccess;
    let ptr = 0;
    if (bytes.length > 0) {
      ptr = this.#malloc(bytes.length) >>> 0;
      if (ptr === 0 || !this.fits(ptr, bytes.length)) return WasmResult.InvalidMemoryAccess;
      this.#view().set(bytes, ptr);
    }
    this.writeU32(outPtr, ptr);
    this.writeU32(outLen, bytes.length);
    return WasmResult.Ok;
  }

  /** Like `give` for a string, writing ASCII straight into the module's memory. */
  giveString(value: string, outPtr: number, outLen: number): number {
    const n = value.length;
    let ascii = n <= 256;
    for (let i = 0; ascii && i < n; i++) ascii = value.charCodeAt(i) < 0x80;
    if (!ascii || n === 0) return this.give(encoder.encode(value), outPtr, outLen);
    const ptr = this.#malloc(n) >>> 0;
    // fits() refreshes the views should malloc have grown the memory.
    if (ptr === 0 || !this.fits(ptr, n) || !this.fits(outPtr, 4) || !this.fits(outLen, 4)) {
      return WasmResult.InvalidMemoryAccess;
    }
    const mem = this.#u8;
    for (let i = 0; i < n; i++) mem[ptr + i] = value.charCodeAt(i);
    this.#dv.setUint32(outPtr, ptr, true);
    this.#dv.setUint32(outLen, n, true);
    return WasmResult.Ok;
  }
}
