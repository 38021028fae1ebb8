/**
 * The protocol simulation's world: a seeded PRNG, a deterministic event queue, processes written as
 * generators (an actor's asynchronous sequence, resumed by the queue), NATS (KV buckets with revisions,
 * compare-and-set and ttl, ordered watches; core subjects, at most once; the wake work queue with
 * deduplication, ack and redelivery) and the platform (replicas, pods that turn ready after a delay,
 * terminating pods, generations). Nothing here does I/O or reads a real clock.
 */

// ---- PRNG -------------------------------------------------------------------------------------------------

/** mulberry32: small, fast, and good enough to pick interleavings. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from nothing');
    return item;
  }
}

// ---- event queue and processes ----------------------------------------------------------------------------

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/** A binary heap of events by time, then by the order they were scheduled: the same seed, the same run. */
export class EventQueue {
  readonly #heap: Event[] = [];
  #seq = 0;
  now = 0;
  steps = 0;

  at(time: number, run: () => void): void {
    const event = { at: Math.max(time, this.now), seq: this.#seq++, run };
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent] as Event)) break;
      heap[i] = heap[parent] as Event;
      i = parent;
    }
    heap[i] = event;
  }

  after(delay: number, run: () => void): void {
    this.at(this.now + delay, run);
  }

  /** Runs the next event; false when none is left before `until`. */
  step(until: number): boolean {
    const heap = this.#heap;
    const first = heap[0];
    if (first === undefined || first.at > until) return false;
    const last = heap.pop() as Event;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let best = last;
        if (l < heap.length && before(heap[l] as Event, best)) {
          m = l;
          best = heap[l] as Event;
        }
        if (r < heap.length && before(heap[r] as Event, best)) {
          m = r;
          best = heap[r] as Event;
        }
        if (m === i) break;
        heap[i] = heap[m] as Event;
        i = m;
      }
      heap[i] = last;
    }
    this.now = first.at;
    this.steps++;
    first.run();
    return true;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** What a process yields: called with the function that resumes it (at most once). */
export type Wait<T = unknown> = (resume: (value: T) => void) => void;
export type Proc<R = void> = Generator<Wait, R, unknown>;

/** An actor's life: processes started in one incarnation never resume in the next. */
export class Life {
  incarnation = 0;
  alive = true;
  kill(): void {
    this.alive = false;
    this.incarnation++;
  }
  restart(): void {
    this.alive = true;
    this.incarnation++;
  }
}

/** Runs a generator until it waits; resumes it when the wait calls back, unless its actor's life moved on. */
export function spawn(life: Life, proc: Proc<unknown>, onDone?: (error?: unknown) => void): void {
  const incarnation = life.incarnation;
  const step = (value: unknown, thrown: boolean) => {
    if (life.incarnation !== incarnation || !life.alive) return;
    let result: IteratorResult<Wait, unknown>;
    try {
      result = thrown ? proc.throw(value) : proc.next(value);
    } catch (error) {
      if (onDone) onDone(error);
      else throw error;
      return;
    }
    if (result.done) {
      onDone?.();
      return;
    }
    let resumed = false;
    result.value((v) => {
      if (resumed) throw new Error('a wait resumed twice');
      resumed = true;
      if (v instanceof Thrown) step(v.error, true);
      else step(v, false);
    });
  };
  step(undefined, false);
}

/** A wait that resumes by throwing `error` into the process. */
export class Thrown {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

export class NatsError extends Error {}
export class ConflictError extends Error {}

/** Typed yield: `const x = yield* wait<T>(w)`. */
export function* wait<T>(w: Wait<T>): Generator<Wait, T, unknown> {
  return (yield w as Wait) as T;
}

// ---- NATS -------------------------------------------------------------------------------------------------

/** A NATS client: an actor's connection, which a partition cuts. */
export interface Client {
  readonly name: string;
  readonly life: Life;
  /** Cut from NATS until this time (a partition); -Infinity when connected. */
  cutUntil: number;
  /** Told of its connection dropping and coming back (nats.js status events). */
  onStatus?: (event: 'disconnect' | 'reconnect') => void;
}

export interface KvEntry {
  key: string;
  value: unknown;
  revision: number;
  operation: 'PUT' | 'DEL';
}

interface Stored {
  value: unknown;
  revision: number;
  operation: 'PUT' | 'DEL';
  writtenAt: number;
}

interface WatchState {
  client: Client;
  incarnation: number;
  queue: { entry: KvEntry; at: number }[];
  pumping: boolean;
  each: (entry: KvEntry) => void;
  stopped: boolean;
}

export class Bucket {
  readonly #entries = new Map<string, Stored>();
  readonly #watches: WatchState[] = [];
  #seq = 0;

  readonly name: string;
  readonly ttlMs: number;
  readonly nats: Nats;

  constructor(name: string, ttlMs: number, nats: Nats) {
    this.name = name;
    this.ttlMs = ttlMs;
    this.nats = nats;
  }

  #live(key: string): Stored | undefined {
    const stored = this.#entries.get(key);
    if (stored === undefined) return undefined;
    if (this.ttlMs > 0 && this.nats.queue.now - stored.writtenAt >= this.ttlMs) {
      // Expired by the bucket's max age: gone without a delete marker or a watch event.
      this.#entries.delete(key);
      return undefined;
    }
    return stored;
  }

  /** The latest entry (a delete marker included), as `kv.get`. */
  get(key: string): KvEntry | undefined {
    const stored = this.#live(key);
    return stored && { key, ...pick(stored) };
  }

  keys(): string[] {
    return [...this.#entries.keys()].filter((key) => this.#live(key)?.operation === 'PUT');
  }

  put(key: string, value: unknown, previous?: number): number {
    if (previous !== undefined && (this.#live(key)?.revision ?? 0) !== previous) {
      throw new ConflictError(`${this.name}/${key}: wrong last sequence`);
    }
    return this.#write(key, value, 'PUT');
  }

  create(key: string, value: unknown): number {
    const stored = this.#live(key);
    if (stored !== undefined && stored.operation === 'PUT') throw new ConflictError(`${key} exists`);
    return this.#write(key, value, 'PUT');
  }

  update(key: string, value: unknown, revision: number): number {
    if (this.#live(key)?.revision !== revision) throw new ConflictError(`${key}: wrong last sequence`);
    return this.#write(key, value, 'PUT');
  }

  delete(key: string, previous?: number): void {
    if (previous !== undefined && this.#live(key)?.revision !== previous) {
      throw new ConflictError(`${key}: wrong last sequence`);
    }
    if (this.#live(key) === undefined) return;
    this.#write(key, undefined, 'DEL');
  }

  #write(key: string, value: unknown, operation: 'PUT' | 'DEL'): number {
    const revision = ++this.#seq;
    const stored: Stored = { value, revision, operation, writtenAt: this.nats.queue.now };
    this.#entries.set(key, stored);
    for (const watch of this.#watches) this.#push(watch, { key, ...pick(stored) });
    return revision;
  }

  /**
   * The latest entry of every key, then every change, in order, each after a network delay. A client cut
   * from NATS gets nothing until the partition heals, then carries on where it was (an ordered consumer).
   */
  watch(client: Client, each: (entry: KvEntry) => void, updatesOnly = false): { stop(): void } {
    const watch: WatchState = {
      client,
      incarnation: client.life.incarnation,
      queue: [],
      pumping: false,
      each,
      stopped: false,
    };
    this.#watches.push(watch);
    if (!updatesOnly) {
      for (const [key, stored] of this.#entries) {
        if (this.#live(key) !== undefined) this.#push(watch, { key, ...pick(stored) });
      }
    }
    return {
      stop: () => {
        watch.stopped = true;
        const i = this.#watches.indexOf(watch);
        if (i >= 0) this.#watches.splice(i, 1);
      },
    };
  }

  #push(watch: WatchState, entry: KvEntry): void {
    const last = watch.queue.at(-1)?.at ?? 0;
    watch.queue.push({ entry, at: Math.max(last, this.nats.queue.now + this.nats.latency()) });
    this.#pump(watch);
  }

  #pump(watch: WatchState): void {
    if (watch.pumping) return;
    const head = watch.queue[0];
    if (head === undefined) return;
    watch.pumping = true;
    const { client } = watch;
    const at = Math.max(head.at, client.cutUntil);
    this.nats.queue.at(at, () => {
      watch.pumping = false;
      if (watch.stopped || client.life.incarnation !== watch.incarnation || !client.life.alive) {
        watch.stopped = true;
        return;
      }
      if (client.cutUntil > this.nats.queue.now) {
        this.#pump(watch);
        return;
      }
      watch.queue.shift();
      watch.each(head.entry);
      this.#pump(watch);
    });
  }
}

function pick(stored: Stored): Omit<KvEntry, 'key'> {
  return { value: stored.value, revision: stored.revision, operation: stored.operation };
}

interface Subscriber {
  client: Client;
  incarnation: number;
  subject: string;
  each: (message: unknown) => void;
  last: number;
}

interface QueuedWake {
  id: number;
  backend: string;
  at: number;
  deliveries: number;
  /** Not before this time (a nak's delay). */
  availableAt: number;
  /** Delivered and not settled: redelivered at this time (ack_wait). */
  ackDeadline: number | undefined;
}

export interface NatsTiming {
  /** Network latency of one hop, drawn per message. */
  latencyMs: [number, number];
  /** The work queue's ack_wait. */
  ackWaitMs: number;
  /** The wake stream's duplicate window. */
  dedupeMs: number;
}

/** The NATS server and the network to it. */
export class Nats {
  readonly buckets = new Map<string, Bucket>();
  readonly #subscribers: Subscriber[] = [];
  readonly #wakes: QueuedWake[] = [];
  readonly #dedupe = new Map<string, number>();
  readonly #consumers: { client: Client; incarnation: number; take: (w: QueuedWake) => void }[] = [];
  #wakeId = 0;
  /** Extra latency while a delay fault lasts. */
  slowUntil = 0;

  readonly queue: EventQueue;
  readonly rng: Rng;
  readonly timing: NatsTiming;

  constructor(queue: EventQueue, rng: Rng, timing: NatsTiming) {
    this.queue = queue;
    this.rng = rng;
    this.timing = timing;
  }

  bucket(name: string, ttlMs = 0): Bucket {
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = new Bucket(name, ttlMs, this);
      this.buckets.set(name, bucket);
    }
    return bucket;
  }

  latency(): number {
    const [lo, hi] = this.timing.latencyMs;
    const base = this.rng.int(lo, hi);
    return this.queue.now < this.slowUntil ? base + this.rng.int(0, 80) : base;
  }

  connected(client: Client): boolean {
    return client.life.alive && client.cutUntil <= this.queue.now;
  }

  /**
   * A request (a KV operation): it reaches the server after one hop and is applied there unless the client
   * is cut off; the reply comes back after another hop unless the client is cut off by then (applied, but
   * the client sees an error: the harsher case). Errors are NatsError; a failed compare-and-set throws
   * ConflictError.
   */
  request<T>(client: Client, apply: () => T): Wait<T> {
    return (resume) => {
      const incarnation = client.life.incarnation;
      this.queue.after(this.latency(), () => {
        if (!this.connected(client) || client.life.incarnation !== incarnation) {
          this.queue.after(this.#timeoutMs(), () => resume(new Thrown(new NatsError('timeout')) as T));
          return;
        }
        let result: T | Thrown;
        try {
          result = apply();
        } catch (error) {
          result = new Thrown(error);
        }
        this.queue.after(this.latency(), () => {
          if (!this.connected(client)) resume(new Thrown(new NatsError('disconnected')) as T);
          else resume(result as T);
        });
      });
    };
  }

  #timeoutMs(): number {
    return 200;
  }

  /** Core publish: to every subscriber connected when it arrives, in order per pair; false if not sent. */
  publish(client: Client, subject: string, message: unknown): boolean {
    if (!this.connected(client)) return false;
    for (const sub of this.#subscribers) {
      if (sub.subject !== subject) continue;
      const at = Math.max(sub.last, this.queue.now + this.latency());
      sub.last = at;
      this.queue.at(at, () => {
        const { client: c } = sub;
        if (c.life.incarnation !== sub.incarnation || !this.connected(c)) return; // at most once
        sub.each(message);
      });
    }
    return true;
  }

  subscribe(client: Client, subject: string, each: (message: unknown) => void): { stop(): void } {
    const sub: Subscriber = { client, incarnation: client.life.incarnation, subject, each, last: 0 };
    this.#subscribers.push(sub);
    return {
      stop: () => {
        const i = this.#subscribers.indexOf(sub);
        if (i >= 0) this.#subscribers.splice(i, 1);
      },
    };
  }

  /** Publishes a wake into the work queue (JetStream: acknowledged, deduplicated per backend per window). */
  publishWake(backend: string, at: number): 'published' | 'duplicate' {
    const last = this.#dedupe.get(backend);
    if (last !== undefined && this.queue.now - last < this.timing.dedupeMs) return 'duplicate';
    this.#dedupe.set(backend, this.queue.now);
    this.#wakes.push({
      id: this.#wakeId++,
      backend,
      at,
      deliveries: 0,
      availableAt: this.queue.now,
      ackDeadline: undefined,
    });
    this.#dispatch();
    return 'published';
  }

  /** A scaler's pull consumer on the shared durable: `take` is called with each delivered wake. */
  consume(client: Client, take: (wake: QueuedWake) => void): void {
    this.#consumers.push({ client, incarnation: client.life.incarnation, take });
    this.#dispatch();
  }

  /** Settles a delivered wake (ack, or nak with a delay); lost when the client is cut off. */
  settle(client: Client, wake: QueuedWake, how: 'ack' | 'term' | { nakMs: number }): void {
    this.queue.after(this.latency(), () => {
      if (!this.connected(client) || wake.ackDeadline === undefined) return;
      wake.ackDeadline = undefined;
      if (how === 'ack' || how === 'term') {
        const i = this.#wakes.indexOf(wake);
        if (i >= 0) this.#wakes.splice(i, 1);
      } else {
        wake.availableAt = this.queue.now + how.nakMs;
        this.queue.at(wake.availableAt, () => this.#dispatch());
      }
      this.#dispatch();
    });
  }

  #dispatch(): void {
    const now = this.queue.now;
    for (const wake of this.#wakes) {
      if (wake.ackDeadline !== undefined) {
        if (wake.ackDeadline > now) continue;
        wake.ackDeadline = undefined; // ack_wait passed: redeliver
      }
      if (wake.availableAt > now) continue;
      const live = this.#consumers.filter(
        (c) => c.client.life.incarnation === c.incarnation && this.connected(c.client),
      );
      if (live.length === 0) continue;
      const consumer = this.rng.pick(live);
      wake.deliveries++;
      wake.ackDeadline = now + this.timing.ackWaitMs;
      this.queue.at(wake.ackDeadline, () => this.#dispatch());
      const incarnation = consumer.incarnation;
      this.queue.after(this.latency(), () => {
        if (consumer.client.life.incarnation !== incarnation || !this.connected(consumer.client)) return;
        consumer.take(wake);
      });
    }
  }

  /** Something changed who can consume (a restart, a healed partition): deliver what waits. */
  redispatch(): void {
    this.#dispatch();
  }
}

export type { QueuedWake };

// ---- platform ---------------------------------------------------------------------------------------------

export interface Pod {
  readyAt: number;
  terminating: boolean;
}

/** What a watcher observes of the workload. */
export interface Observation {
  replicas: number;
  readyReplicas: number;
  generation: number;
  observedGeneration: number;
}

export interface PlatformTiming {
  startMs: [number, number];
  /** The controller updating status.observedGeneration after a spec change. */
  observeMs: [number, number];
}

/** One Deployment: replicas, pods, generations; watchers are told of every change. */
export class Platform {
  replicas = 0;
  generation = 1;
  observedGeneration = 1;
  pods: Pod[] = [];
  /** Told of each change (watchers observe it after their own delay). */
  readonly listeners: (() => void)[] = [];
  /** Scale calls fail while this is set (an API outage). */
  failing = false;

  readonly queue: EventQueue;
  readonly rng: Rng;
  readonly timing: PlatformTiming;

  constructor(queue: EventQueue, rng: Rng, timing: PlatformTiming) {
    this.queue = queue;
    this.rng = rng;
    this.timing = timing;
  }

  /** A ready endpoint: a pod that is ready and not terminating. */
  hasReadyEndpoint(): boolean {
    const now = this.queue.now;
    return this.pods.some((pod) => !pod.terminating && pod.readyAt <= now);
  }

  observe(): Observation {
    const now = this.queue.now;
    return {
      replicas: this.replicas,
      readyReplicas: this.pods.filter((pod) => !pod.terminating && pod.readyAt <= now).length,
      generation: this.generation,
      observedGeneration: this.observedGeneration,
    };
  }

  setReplicas(to: number): { from: number; to: number; generation: number } {
    const from = this.replicas;
    if (from !== to) {
      this.replicas = to;
      this.generation++;
      const generation = this.generation;
      const live = this.pods.filter((pod) => !pod.terminating);
      if (to < live.length) {
        for (const pod of live.slice(to)) pod.terminating = true;
      } else {
        for (let i = live.length; i < to; i++) {
          const pod = { readyAt: this.queue.now + this.rng.int(...this.timing.startMs), terminating: false };
          this.pods.push(pod);
          this.queue.at(pod.readyAt, () => this.#changed());
        }
      }
      this.pods = this.pods.filter((pod) => !pod.terminating);
      this.queue.after(this.rng.int(...this.timing.observeMs), () => {
        this.observedGeneration = Math.max(this.observedGeneration, generation);
        this.#changed();
      });
      this.#changed();
    }
    return { from, to, generation: this.generation };
  }

  #changed(): void {
    for (const listener of this.listeners) listener();
  }
}
