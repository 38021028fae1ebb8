/** Metrics the module defines with `proxy_define_metric`, as Envoy keeps them: one stat per name (and type)
 * in the plugin's scope, whatever worker defines or updates it, and a new id for every definition, whose low
 * two bits say its type (proxy-wasm-cpp-host include/proxy-wasm/wasm.h, `kMetricTypeMask`,
 * `nextCounterMetricId`). The answers are Envoy's (source/extensions/common/wasm/context.cc,
 * `Context::defineMetric`, `incrementMetric`, `recordMetric`, `getMetric`). */
import { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } from '../assembly/abi-numbers.ts';
import { WasmResult as R } from './abi.ts';

export type MetricTypeName = 'counter' | 'gauge' | 'histogram';

/** By the ABI's metric type number. */
const typeNames = new Map<number, MetricTypeName>([
  [METRIC_COUNTER, 'counter'],
  [METRIC_GAUGE, 'gauge'],
  [METRIC_HISTOGRAM, 'histogram'],
]);

const TYPE_MASK = 0x3;
const ID_INCREMENT = 0x4;
const U64 = (1n << 64n) - 1n;

export type Metric = { name: string; type: MetricTypeName; value: bigint };

export class MetricStore {
  /** Stats by type and name. */
  readonly #stats = new Map<string, Metric>();
  /** Each definition's id, to its stat. */
  readonly #byId = new Map<number, Metric>();
  readonly #nextId = [METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM];
  /** Told of every value a histogram records, as Envoy's histogram takes each one in. */
  readonly #recorded = new Set<(name: string, value: number) => void>();

  /** Calls `listener` with each value recorded in a histogram from now on. */
  onHistogramValue(listener: (name: string, value: number) => void): void {
    this.#recorded.add(listener);
  }

  /** A new id for the stat of that type and name; undefined when the type is past the enum (BadArgument). */
  define(type: number, name: string): number | undefined {
    const typeName = typeNames.get(type >>> 0);
    if (!typeName) return undefined;
    const key = `${typeName}\0${name}`;
    let stat = this.#stats.get(key);
    if (!stat) {
      stat = { name, type: typeName, value: 0n };
      this.#stats.set(key, stat);
    }
    const next = (this.#nextId[type] as number) + ID_INCREMENT;
    this.#nextId[type] = next;
    this.#byId.set(next >>> 0, stat);
    return next >>> 0;
  }

  /** Counters only go up (0 and less BadArgument); gauges go either way; histograms are BadArgument. */
  increment(id: number, delta: bigint): number {
    const type = (id >>> 0) & TYPE_MASK;
    if (type !== METRIC_COUNTER && type !== METRIC_GAUGE) return R.BadArgument;
    const m = this.#byId.get(id >>> 0);
    if (!m) return R.NotFound;
    if (type === METRIC_COUNTER && delta <= 0n) return R.BadArgument;
    m.value = (m.value + delta) & U64;
    return R.Ok;
  }

  /** A counter adds the value, a gauge takes it, a histogram records it (the last one is kept here). */
  record(id: number, value: bigint): number {
    const m = this.#byId.get(id >>> 0);
    if (!m) return R.NotFound;
    const v = BigInt.asUintN(64, value);
    m.value = m.type === 'counter' ? (m.value + v) & U64 : v;
    if (m.type === 'histogram') for (const listener of this.#recorded) listener(m.name, Number(v));
    return R.Ok;
  }

  /** A counter's or gauge's value; histograms have none to read (BadArgument). */
  read(id: number): { result: number; value?: bigint } {
    const type = (id >>> 0) & TYPE_MASK;
    if (type !== METRIC_COUNTER && type !== METRIC_GAUGE) return { result: R.BadArgument };
    const m = this.#byId.get(id >>> 0);
    return m ? { result: R.Ok, value: m.value } : { result: R.NotFound };
  }

  get(name: string): Metric | undefined {
    for (const m of this.#stats.values()) if (m.name === name) return m;
    return undefined;
  }

  all(): Metric[] {
    return [...this.#stats.values()].map((m) => ({ ...m }));
  }
}
