// Raw bytes as the filter reads them from the host: ASCII case folding and the FNV-1a hash its tables use.

export const FNV_BASIS: u32 = 2166136261;
export const FNV_PRIME: u32 = 16777619;

/** The byte with ASCII `A`–`Z` folded to lowercase; every other byte as it is. */
export function lowerAscii(c: u8): u8 {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** FNV-1a of `len` bytes at `ptr`, case-sensitive. */
export function fnv1a(ptr: usize, len: usize): u32 {
  let h = FNV_BASIS;
  for (let i: usize = 0; i < len; i++) h = (h ^ load<u8>(ptr + i)) * FNV_PRIME;
  return h;
}
