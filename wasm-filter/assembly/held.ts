// Held requests as a slab of parallel typed arrays (15 bytes a slot) with a free list: no object and no
// string per held request, so 10,000 held requests cost little linear memory.

let capacity: i32 = 0;
let ctx = new Uint32Array(0);
let backend = new Uint16Array(0);
let grpc = new Uint8Array(0);
let since = new Float64Array(0);
let free = new Int32Array(0);
let freeCount: i32 = 0;
/** Slots ever handed out; slots below it are either in use or on the free list. */
export let slotCount: i32 = 0;
export let heldTotal: i32 = 0;

function grow(): void {
  const next = capacity == 0 ? 64 : capacity * 2;
  const c = new Uint32Array(next);
  c.set(ctx);
  ctx = c;
  const b = new Uint16Array(next);
  b.set(backend);
  backend = b;
  const g = new Uint8Array(next);
  g.set(grpc);
  grpc = g;
  const s = new Float64Array(next);
  s.set(since);
  since = s;
  const f = new Int32Array(next);
  f.set(free);
  free = f;
  capacity = next;
}

export function holdSlot(contextId: u32, backendIndex: i32, isGrpc: bool, now: f64): i32 {
  let slot: i32;
  if (freeCount > 0) {
    slot = unchecked(free[--freeCount]);
  } else {
    if (slotCount == capacity) grow();
    slot = slotCount++;
  }
  unchecked((ctx[slot] = contextId));
  unchecked((backend[slot] = <u16>backendIndex));
  unchecked((grpc[slot] = isGrpc ? 1 : 0));
  unchecked((since[slot] = now));
  heldTotal++;
  return slot;
}

export function releaseSlot(slot: i32): void {
  unchecked((ctx[slot] = 0));
  unchecked((free[freeCount++] = slot));
  heldTotal--;
}

/** 0 when the slot is free (context ids start at 1). */
export function slotContext(slot: i32): u32 {
  return unchecked(ctx[slot]);
}

export function slotBackend(slot: i32): i32 {
  return <i32>unchecked(backend[slot]);
}

export function setSlotBackend(slot: i32, index: i32): void {
  unchecked((backend[slot] = <u16>index));
}

export function slotGrpc(slot: i32): bool {
  return unchecked(grpc[slot]) != 0;
}

export function slotSince(slot: i32): f64 {
  return unchecked(since[slot]);
}
