// Interned names (cluster names, authorities) of one worker: each distinct byte string gets a small id that
// held requests keep in the ledger's typed arrays instead of a string each. Ids are reference-counted and
// reused once nothing refers to them; `born` tells a reused id from the name it had before.
import { fnv1a } from './bytes';
import { IdTable, MISSING } from './id-table';

/** Ids fit a held slot's 16 bits; 0 is "no name". */
const MAX_NAMES: i32 = 65535;

export class Names {
  private bytes: ArrayBuffer[] = [new ArrayBuffer(0)];
  private refs: i32[] = [0];
  private next: i32[] = [-1];
  private hashes: u32[] = [0];
  private births: i32[] = [0];
  private free: i32[] = [];
  private heads: IdTable = new IdTable();
  private born: i32 = 0;

  /** The id of these bytes with one more reference, made if new; 0 for none (empty, or too many names). */
  intern(ptr: usize, len: usize): i32 {
    if (len == 0) return 0;
    const h = fnv1a(ptr, len);
    let id = this.heads.get(h);
    if (id == MISSING) id = -1;
    while (id >= 0) {
      const b = unchecked(this.bytes[id]);
      if (<usize>b.byteLength == len && memory.compare(changetype<usize>(b), ptr, len) == 0) {
        unchecked((this.refs[id] += 1));
        return id;
      }
      id = unchecked(this.next[id]);
    }
    const copy = new ArrayBuffer(<i32>len);
    memory.copy(changetype<usize>(copy), ptr, len);
    let made: i32;
    if (this.free.length > 0) {
      made = this.free.pop();
      this.bytes[made] = copy;
    } else if (this.bytes.length <= MAX_NAMES) {
      made = this.bytes.length;
      this.bytes.push(copy);
      this.refs.push(0);
      this.next.push(-1);
      this.hashes.push(0);
      this.births.push(0);
    } else {
      return 0;
    }
    const head = this.heads.get(h);
    this.next[made] = head == MISSING ? -1 : head;
    this.hashes[made] = h;
    this.refs[made] = 1;
    this.births[made] = ++this.born;
    this.heads.set(h, made);
    return made;
  }

  /** The id of a string (interned as its UTF-8 bytes), with one more reference. */
  internString(s: string): i32 {
    const b = String.UTF8.encode(s);
    return this.intern(changetype<usize>(b), b.byteLength);
  }

  /** One reference fewer; the id is free for another name once none is left. */
  release(id: i32): void {
    if (id <= 0 || id >= this.refs.length || this.refs[id] <= 0) return;
    if (--this.refs[id] > 0) return;
    const h = this.hashes[id];
    let at = this.heads.get(h);
    if (at == id) {
      const after = this.next[id];
      if (after < 0) this.heads.take(h);
      else this.heads.set(h, after);
    } else {
      while (at >= 0 && this.next[at] != id) at = this.next[at];
      if (at >= 0) this.next[at] = this.next[id];
    }
    this.bytes[id] = new ArrayBuffer(0);
    this.free.push(id);
  }

  /** The name's text ('' for 0 or a free id). */
  name(id: i32): string {
    if (id <= 0 || id >= this.bytes.length) return '';
    return String.UTF8.decode(this.bytes[id]);
  }

  /** A number that changes whenever the id is given to a new name. */
  birth(id: i32): i32 {
    return id <= 0 || id >= this.births.length ? 0 : this.births[id];
  }

  /** References to the id (0 when free). */
  refsOf(id: i32): i32 {
    return id <= 0 || id >= this.refs.length ? 0 : this.refs[id];
  }
}

/** Cluster names (`xds.cluster_name`, the table's `cluster`) and held `:authority` values of this worker. */
export const clusterNames = new Names();
export const authorityNames = new Names();
