// The host index: `:authority` bytes → host entry (routes.ts) in one hash probe, without allocating. Patterns are
// added and removed one at a time, so a table change costs what it changes, not the size of the table.
import { FNV_BASIS, FNV_PRIME, lowerAscii } from './bytes';
import { IdTable, MISSING } from './id-table';

/** The longest hostname (DNS: 253 characters), the most any pattern has: a longer `:authority` host is
 * matched against nothing, so no request makes the per-label suffix search cost more than this squared. */
export const MAX_HOST_BYTES: usize = 253;
/** The longest `:authority` kept for a held request's probe: a hostname, a bracketed IPv6 address, a port. */
export const MAX_AUTHORITY_BYTES: usize = MAX_HOST_BYTES + 8;

/** The lowercase bytes of each pattern (wildcards as their suffix: ".example.com" for "*.example.com"),
 * chained by FNV-1a hash; a freed pattern id is reused. */
const patBytes: ArrayBuffer[] = [];
const patHash: u32[] = [];
const patWild: bool[] = [];
const patBackend: i32[] = [];
const patNext: i32[] = [];
const freePatterns: i32[] = [];
const FREED_BYTES = new ArrayBuffer(0);
/** Hash → the first pattern of its chain. */
const exact = new IdTable();
const wild = new IdTable();

/** FNV-1a of the bytes, ASCII case folded: hosts match case-insensitively. */
function hashBytes(ptr: usize, len: usize): u32 {
  let h = FNV_BASIS;
  for (let i: usize = 0; i < len; i++) {
    h = (h ^ lowerAscii(load<u8>(ptr + i))) * FNV_PRIME;
  }
  return h;
}

/** Host entry of the pattern equal (case-insensitively) to these bytes, or -1. */
export function findPattern(wildcard: bool, ptr: usize, len: usize): i32 {
  let p = (wildcard ? wild : exact).get(hashBytes(ptr, len));
  if (p == MISSING) return -1;
  while (p >= 0) {
    const b = unchecked(patBytes[p]);
    if (<usize>b.byteLength == len) {
      const base = changetype<usize>(b);
      let same = true;
      for (let i: usize = 0; i < len; i++) {
        if (load<u8>(base + i) != lowerAscii(load<u8>(ptr + i))) {
          same = false;
          break;
        }
      }
      if (same) return unchecked(patBackend[p]);
    }
    p = unchecked(patNext[p]);
  }
  return -1;
}

/** Indexes a table host (`*.` for a wildcard) for a host entry; returns the pattern's id, or -1 for an empty
 * host, which matches nothing. */
export function addHost(host: string, backend: i32): i32 {
  const wildcard = host.startsWith('*.');
  if (!wildcard && host.length == 0) return -1;
  const bytes = String.UTF8.encode((wildcard ? host.substring(1) : host).toLowerCase());
  const h = hashBytes(changetype<usize>(bytes), bytes.byteLength);
  const heads = wildcard ? wild : exact;
  const previous = heads.get(h);
  const next = previous == MISSING ? -1 : previous;
  let id: i32;
  if (freePatterns.length > 0) {
    id = freePatterns.pop();
    patBytes[id] = bytes;
    patHash[id] = h;
    patWild[id] = wildcard;
    patBackend[id] = backend;
    patNext[id] = next;
  } else {
    id = patBytes.length;
    patBytes.push(bytes);
    patHash.push(h);
    patWild.push(wildcard);
    patBackend.push(backend);
    patNext.push(next);
  }
  heads.set(h, id);
  return id;
}

/** Takes a pattern out of its chain and frees its id. */
export function removeHost(id: i32): void {
  const heads = patWild[id] ? wild : exact;
  const h = patHash[id];
  const head = heads.get(h);
  if (head == id) {
    if (patNext[id] < 0) heads.take(h);
    else heads.set(h, patNext[id]);
  } else {
    let p = head;
    while (patNext[p] != id) p = patNext[p];
    patNext[p] = patNext[id];
  }
  patBytes[id] = FREED_BYTES;
  patBackend[id] = -1;
  freePatterns.push(id);
}
