// A u32 → i32 hash table with open addressing on typed arrays: one probe sequence per operation and no
// allocation except when it grows. Key 0 marks an empty slot (context ids and hashes 0 are remapped).

export const MISSING: i32 = i32.MIN_VALUE;

export class IdTable {
  keys: Uint32Array;
  values: Int32Array;
  mask: u32;
  size: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.keys = new Uint32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = <u32>capacity - 1;
  }

  @inline private static slotOf(key: u32, mask: u32): u32 {
    return (key * 0x9e3779b1) & mask;
  }

  @inline private static stored(key: u32): u32 {
    return key == 0 ? 0xffffffff : key;
  }

  get(key: u32): i32 {
    const k = IdTable.stored(key);
    let i = IdTable.slotOf(k, this.mask);
    while (true) {
      const at = unchecked(this.keys[i]);
      if (at == k) return unchecked(this.values[i]);
      if (at == 0) return MISSING;
      i = (i + 1) & this.mask;
    }
  }

  set(key: u32, value: i32): void {
    if ((this.size + 1) * 2 > <i32>this.mask + 1) this.grow();
    const k = IdTable.stored(key);
    let i = IdTable.slotOf(k, this.mask);
    while (true) {
      const at = unchecked(this.keys[i]);
      if (at == k) {
        unchecked((this.values[i] = value));
        return;
      }
      if (at == 0) {
        unchecked((this.keys[i] = k));
        unchecked((this.values[i] = value));
        this.size++;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Removes the key and returns its value, or MISSING. Backward-shift deletion: no tombstones. */
  take(key: u32): i32 {
    const k = IdTable.stored(key);
    const mask = this.mask;
    let i = IdTable.slotOf(k, mask);
    while (true) {
      const at = unchecked(this.keys[i]);
      if (at == 0) return MISSING;
      if (at == k) break;
      i = (i + 1) & mask;
    }
    const value = unchecked(this.values[i]);
    let hole = i;
    let j = i;
    while (true) {
      j = (j + 1) & mask;
      const at = unchecked(this.keys[j]);
      if (at == 0) break;
      const home = IdTable.slotOf(at, mask);
      // Move the entry at j into the hole unless its home lies cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        unchecked((this.keys[hole] = at));
        unchecked((this.values[hole] = this.values[j]));
        hole = j;
      }
    }
    unchecked((this.keys[hole] = 0));
    this.size--;
    return value;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const capacity = (<i32>this.mask + 1) * 2;
    this.keys = new Uint32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = <u32>capacity - 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = unchecked(oldKeys[i]);
      if (k != 0) this.set(k == 0xffffffff ? 0 : k, unchecked(oldValues[i]));
    }
  }
}
