// A small strict JSON parser (RFC 8259) over UTF-8 bytes. It never traps: any malformed input yields null,
// so a bridge answering garbage cannot take the filter down. Nesting is capped to bound the stack.

export const JSON_NULL: i32 = 0;
export const JSON_BOOL: i32 = 1;
export const JSON_NUMBER: i32 = 2;
export const JSON_STRING: i32 = 3;
export const JSON_ARRAY: i32 = 4;
export const JSON_OBJECT: i32 = 5;

const MAX_DEPTH: i32 = 32;

/** Shared by every value that is not an array or object, so a scalar allocates no arrays. Never written. */
const NO_ITEMS: JsonValue[] = [];
const NO_KEYS: string[] = [];

export class JsonValue {
  kind: i32;
  bool: bool = false;
  num: f64 = 0;
  str: string = '';
  items: JsonValue[];
  keys: string[];

  constructor(kind: i32) {
    this.kind = kind;
    this.items = kind == JSON_ARRAY || kind == JSON_OBJECT ? [] : NO_ITEMS;
    this.keys = kind == JSON_OBJECT ? [] : NO_KEYS;
  }

  /** Member of an object by key, or null. */
  get(key: string): JsonValue | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] == key) return this.items[i];
    }
    return null;
  }
}

/** Object keys seen lately: a table of 10,000 backends repeats the same few keys 10,000 times, and each
 * would otherwise be a string of its own. ASCII only, so a byte compares to a char code. */
const recentKeys: string[] = [];
const RECENT_KEYS: i32 = 16;
/** Where the next new key goes once the list is full: the oldest gives way. */
let nextKey: i32 = 0;

function internKey(ptr: usize, len: usize): string {
  for (let i = 0; i < recentKeys.length; i++) {
    const k = unchecked(recentKeys[i]);
    if (<usize>k.length != len) continue;
    let same = true;
    for (let j: usize = 0; j < len; j++) {
      if (<i32>load<u8>(ptr + j) != k.charCodeAt(<i32>j)) {
        same = false;
        break;
      }
    }
    if (same) return k;
  }
  const k = String.UTF8.decodeUnsafe(ptr, len);
  if (recentKeys.length < RECENT_KEYS) recentKeys.push(k);
  else recentKeys[nextKey] = k;
  nextKey = (nextKey + 1) % RECENT_KEYS;
  return k;
}

class Parser {
  pos: usize;
  end: usize;

  constructor(ptr: usize, len: usize) {
    this.pos = ptr;
    this.end = ptr + len;
  }

  skipSpace(): void {
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.pos++;
    }
  }

  peek(): i32 {
    return this.pos < this.end ? <i32>load<u8>(this.pos) : -1;
  }

  literal(word: string): bool {
    const n = word.length;
    if (this.end - this.pos < <usize>n) return false;
    for (let i = 0; i < n; i++) {
      if (<i32>load<u8>(this.pos + i) != word.charCodeAt(i)) return false;
    }
    this.pos += n;
    return true;
  }

  value(depth: i32): JsonValue | null {
    if (depth > MAX_DEPTH) return null;
    this.skipSpace();
    const c = this.peek();
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      if (s === null) return null;
      const v = new JsonValue(JSON_STRING);
      v.str = s;
      return v;
    }
    if (c == 0x74 || c == 0x66) {
      const t = c == 0x74;
      if (!this.literal(t ? 'true' : 'false')) return null;
      const v = new JsonValue(JSON_BOOL);
      v.bool = t;
      return v;
    }
    if (c == 0x6e) return this.literal('null') ? new JsonValue(JSON_NULL) : null;
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    return null;
  }

  digits(): i32 {
    let n = 0;
    while (this.pos < this.end) {
      const d = load<u8>(this.pos);
      if (d < 0x30 || d > 0x39) break;
      this.pos++;
      n++;
    }
    return n;
  }

  number(): JsonValue | null {
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    if (this.peek() == 0x30) {
      this.pos++;
    } else if (this.digits() == 0) {
      return null;
    }
    if (this.peek() == 0x2e) {
      this.pos++;
      if (this.digits() == 0) return null;
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.pos++;
      const s = this.peek();
      if (s == 0x2b || s == 0x2d) this.pos++;
      if (this.digits() == 0) return null;
    }
    const v = new JsonValue(JSON_NUMBER);
    v.num = parseFloat(String.UTF8.decodeUnsafe(start, this.pos - start));
    return v;
  }

  hex4(): i32 {
    if (this.end - this.pos < 4) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const h = <i32>load<u8>(this.pos + i);
      let d: i32;
      if (h >= 0x30 && h <= 0x39) d = h - 0x30;
      else if (h >= 0x61 && h <= 0x66) d = h - 0x61 + 10;
      else if (h >= 0x41 && h <= 0x46) d = h - 0x41 + 10;
      else return -1;
      v = (v << 4) | d;
    }
    this.pos += 4;
    return v;
  }

  /** A JSON string; a `key` without escapes is taken from the recent keys when it is one of them. */
  string(key: bool = false): string | null {
    this.pos++;
    const start = this.pos;
    let ascii = true;
    // Fast path: no escapes, decode the bytes in one go.
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c == 0x22) {
        const s =
          key && ascii
            ? internKey(start, this.pos - start)
            : String.UTF8.decodeUnsafe(start, this.pos - start);
        this.pos++;
        return s;
      }
      if (c >= 0x80) ascii = false;
      if (c == 0x5c) break;
      if (c < 0x20) return null;
      this.pos++;
    }
    if (this.pos >= this.end) return null;
    let out = String.UTF8.decodeUnsafe(start, this.pos - start);
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c == 0x22) {
        this.pos++;
        return out;
      }
      if (c < 0x20) return null;
      if (c != 0x5c) {
        const runStart = this.pos;
        while (this.pos < this.end) {
          const r = load<u8>(this.pos);
          if (r == 0x22 || r == 0x5c || r < 0x20) break;
          this.pos++;
        }
        out += String.UTF8.decodeUnsafe(runStart, this.pos - runStart);
        continue;
      }
      this.pos++;
      if (this.pos >= this.end) return null;
      const e = load<u8>(this.pos);
      this.pos++;
      if (e == 0x22) out += '"';
      else if (e == 0x5c) out += '\\';
      else if (e == 0x2f) out += '/';
      else if (e == 0x62) out += '\b';
      else if (e == 0x66) out += '\f';
      else if (e == 0x6e) out += '\n';
      else if (e == 0x72) out += '\r';
      else if (e == 0x74) out += '\t';
      else if (e == 0x75) {
        const u = this.hex4();
        if (u < 0) return null;
        if (u >= 0xd800 && u <= 0xdbff) {
          if (!this.literal('\\u')) return null;
          const lo = this.hex4();
          if (lo < 0xdc00 || lo > 0xdfff) return null;
          out += String.fromCharCodes([u, lo]);
        } else if (u >= 0xdc00 && u <= 0xdfff) {
          return null;
        } else {
          out += String.fromCharCode(u);
        }
      } else {
        return null;
      }
    }
    return null;
  }

  array(depth: i32): JsonValue | null {
    this.pos++;
    const v = new JsonValue(JSON_ARRAY);
    this.skipSpace();
    if (this.peek() == 0x5d) {
      this.pos++;
      return v;
    }
    while (true) {
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.items.push(item);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x5d) return v;
      if (c != 0x2c) return null;
    }
  }

  object(depth: i32): JsonValue | null {
    this.pos++;
    const v = new JsonValue(JSON_OBJECT);
    this.skipSpace();
    if (this.peek() == 0x7d) {
      this.pos++;
      return v;
    }
    while (true) {
      this.skipSpace();
      if (this.peek() != 0x22) return null;
      const key = this.string(true);
      if (key === null) return null;
      this.skipSpace();
      if (this.peek() != 0x3a) return null;
      this.pos++;
      const item = this.value(depth + 1);
      if (item === null) return null;
      // A repeated key is ambiguous; refuse it rather than pick one.
      if (v.get(key) !== null) return null;
      v.keys.push(key);
      v.items.push(item);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x7d) return v;
      if (c != 0x2c) return null;
    }
  }
}

/** Where the last parse that failed stopped, in bytes from its start: about where its input went wrong. */
let failedAt: i32 = 0;

/** The byte offset at which the last failed `parseJson` stopped, for an error message. */
export function lastJsonFailureOffset(): i32 {
  return failedAt;
}

/** Parses `len` bytes at `ptr`; null unless they are exactly one JSON value (surrounding space allowed). */
export function parseJson(ptr: usize, len: usize): JsonValue | null {
  const p = new Parser(ptr, len);
  const v = p.value(0);
  if (v !== null) {
    p.skipSpace();
    if (p.pos == p.end) return v;
  }
  failedAt = <i32>(p.pos - ptr);
  return null;
}

export function parseJsonString(text: string): JsonValue | null {
  const bytes = String.UTF8.encode(text);
  return parseJson(changetype<usize>(bytes), bytes.byteLength);
}

/** Quotes a string as a JSON string literal. */
export function quote(s: string): string {
  let out = '"';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out += s.substring(run, i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += '\\\\';
    else if (c == 0x0a) out += '\\n';
    else if (c == 0x0d) out += '\\r';
    else if (c == 0x09) out += '\\t';
    else out += `\\u00${c < 0x10 ? '0' : ''}${c.toString(16)}`;
    run = i + 1;
  }
  return `${out + s.substring(run)}"`;
}
