// One i32 per backend index, for the module that keeps it: a module's per-backend state lives in its own
// private PerBackend, so only that module can change it.

/** Grows with the table; an index never written reads 0. */
export class PerBackend {
  private values: Int32Array = new Int32Array(64);

  get(index: i32): i32 {
    return index < this.values.length ? unchecked(this.values[index]) : 0;
  }

  set(index: i32, value: i32): void {
    if (index >= this.values.length) this.grow(index);
    unchecked((this.values[index] = value));
  }

  add(index: i32, delta: i32): void {
    if (index >= this.values.length) this.grow(index);
    unchecked((this.values[index] += delta));
  }

  private grow(index: i32): void {
    let length = this.values.length;
    while (length <= index) length <<= 1;
    const values = new Int32Array(length);
    values.set(this.values);
    this.values = values;
  }
}
