/** Metrics the module defines with `proxy_define_metric`. Like Envoy's stats store, one name is one metric
 * for every VM of a plugin, whatever worker defines or updates it. */
import { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } from '../assembly/abi-numbers.ts';

export type MetricTypeName = 'counter' | 'gauge' | 'histogram';

/** By the ABI's metric type number. */
const typeNames = new Map<number, MetricTypeName>([
  [METRIC_COUNTER, 'counter'],
  [METRIC_GAUGE, 'gauge'],
  [METRIC_HISTOGRAM, 'histogram'],
]);

export type Metric = { name: string; type: MetricTypeName; value: bigint };

export class MetricStore {
  #byId: Metric[] = [];
  #byName = new Map<string, number>();

  /** Metric id for a name, or undefined when the type is unknown or clashes with an earlier definition. */
  define(type: number, name: string): number | undefined {
    const typeName = typeNames.get(type);
    if (!typeName) return undefined;
    const existing = this.#byName.get(name);
    if (existing !== undefined) return this.#byId[existing]?.type === typeName ? existing : undefined;
    this.#byId.push({ name, type: typeName, value: 0n });
    this.#byName.set(name, this.#byId.length - 1);
    return this.#byId.length - 1;
  }

  /** False when the id is unknown or a counter would go down. */
  increment(id: number, delta: bigint): boolean {
    const m = this.#byId[id];
    if (!m || m.type === 'histogram' || (m.type === 'counter' && delta < 0n)) return false;
    m.value += delta;
    return true;
  }

  record(id: number, value: bigint): boolean {
    const m = this.#byId[id];
    if (!m || m.type === 'counter') return false;
    m.value = value;
    return true;
  }

  get(name: string): Metric | undefined {
    const id = this.#byName.get(name);
    return id === undefined ? undefined : this.#byId[id];
  }

  all(): Metric[] {
    return this.#byId.map((m) => ({ ...m }));
  }
}
