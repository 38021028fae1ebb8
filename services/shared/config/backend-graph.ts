/**
 * Groups and dependencies between backends, from their `group` and `depends-on` settings: which backends a
 * wake of one wakes (its dependencies, first, and its group), which ones its requests wait for, and which
 * ones may not sleep while it is awake. Pure: the caller hands over every backend's config.
 *
 * A group is `<namespace>/<group>`: backends of different namespaces never share one. A dependency must be
 * a backend of the same namespace that the watcher lists, and no dependency cycle is followed: each such
 * edge is dropped and reported (a tenant can name only its own backends, and a cycle would otherwise keep
 * requests waiting for one another forever).
 */
import type { BackendId } from '../ids/backend-id.ts';
import type { BackendConfig } from '../messages/payloads.ts';

export interface GraphProblem {
  backend: BackendId;
  dependency: string;
  reason: 'unknown' | 'other-namespace' | 'cycle';
}

/** Why a dependency is ignored, for the watcher's log and the Kubernetes Event alike. */
export function ignoredBecause(reason: GraphProblem['reason']): string {
  if (reason === 'cycle') return 'it is part of a dependency cycle';
  if (reason === 'unknown') return 'no such backend is listed';
  return 'a backend depends only on backends of its own namespace';
}

type Relations = Pick<BackendConfig, 'group' | 'dependsOn'>;

const namespaceOf = (id: string) => id.slice(0, id.indexOf('/'));

export class BackendGraph {
  /** Valid dependency edges: backend → its direct dependencies. */
  readonly #dependsOn = new Map<BackendId, BackendId[]>();
  readonly #dependents = new Map<BackendId, BackendId[]>();
  readonly #groups = new Map<string, BackendId[]>();
  readonly #groupOf = new Map<BackendId, string>();
  readonly problems: GraphProblem[] = [];

  /**
   * `backends`: every backend with a group or dependencies (others may be left out); `exists`: whether the
   * watcher lists a backend (default: it is among `backends`).
   */
  constructor(backends: Iterable<readonly [BackendId, Relations]>, exists?: (id: BackendId) => boolean) {
    const all = new Map(backends);
    const listed = exists ?? ((id: BackendId) => all.has(id));
    for (const [id, config] of all) {
      if (config.group !== undefined) {
        const key = `${namespaceOf(id)}/${config.group}`;
        this.#groupOf.set(id, key);
        const members = this.#groups.get(key);
        if (members) members.push(id);
        else this.#groups.set(key, [id]);
      }
      const valid: BackendId[] = [];
      for (const dependency of config.dependsOn ?? []) {
        if (namespaceOf(dependency) !== namespaceOf(id)) {
          this.problems.push({ backend: id, dependency, reason: 'other-namespace' });
        } else if (!listed(dependency)) {
          this.problems.push({ backend: id, dependency, reason: 'unknown' });
        } else valid.push(dependency);
      }
      if (valid.length > 0) this.#dependsOn.set(id, valid);
    }
    this.#dropCycles();
    for (const [id, dependencies] of this.#dependsOn) {
      for (const dependency of dependencies) {
        const dependents = this.#dependents.get(dependency);
        if (dependents) dependents.push(id);
        else this.#dependents.set(dependency, [id]);
      }
    }
  }

  /** True when no backend has a group or a dependency: nothing to do beyond the backend itself. */
  get empty(): boolean {
    return this.#groups.size === 0 && this.#dependsOn.size === 0;
  }

  /** Its direct dependencies (valid ones only). */
  dependenciesOf(id: BackendId): readonly BackendId[] {
    return this.#dependsOn.get(id) ?? [];
  }

  /** The backends that depend on it directly. */
  dependentsOf(id: BackendId): readonly BackendId[] {
    return this.#dependents.get(id) ?? [];
  }

  /** The other members of its group. */
  groupMembersOf(id: BackendId): readonly BackendId[] {
    const key = this.#groupOf.get(id);
    return key === undefined ? [] : (this.#groups.get(key) ?? []).filter((member) => member !== id);
  }

  /**
   * What a wake of `id` wakes besides it: its group and, transitively, the dependencies and groups of all
   * of those; dependencies before the backends that depend on them.
   */
  wakeSet(id: BackendId): BackendId[] {
    // Depth first with stacks of their own rather than recursion: a tenant's chain of a few thousand
    // dependencies must not overflow the call stack of the watcher or the scaler.
    const members = new Set<BackendId>([id]);
    // Each group is listed once, from the first of its members reached: listing it again from every member
    // made a wake of a group of 1,000 cost a million steps (150 ms of the bridge's event loop).
    const listed = new Set<string>();
    const related = (backend: BackendId) => {
      const group = this.#groupOf.get(backend);
      const inGroup = group === undefined || listed.has(group) ? [] : (this.#groups.get(group) ?? []);
      if (group !== undefined) listed.add(group);
      return [...inGroup, ...this.dependenciesOf(backend)].values();
    };
    const visiting = [related(id)];
    while (visiting.length > 0) {
      const next = (visiting.at(-1) as Iterator<BackendId>).next();
      if (next.done) visiting.pop();
      else if (!members.has(next.value)) {
        members.add(next.value);
        visiting.push(related(next.value));
      }
    }
    // Each backend after its dependencies: the order in which a depth-first walk of them finishes.
    const ordered: BackendId[] = [];
    const placed = new Set<BackendId>();
    const placing: [BackendId, Iterator<BackendId>][] = [];
    const enter = (backend: BackendId) => {
      placed.add(backend);
      placing.push([backend, this.dependenciesOf(backend).values()]);
    };
    for (const backend of members) {
      if (!placed.has(backend)) enter(backend);
      while (placing.length > 0) {
        const [current, dependencies] = placing.at(-1) as [BackendId, Iterator<BackendId>];
        const next = dependencies.next();
        if (next.done) {
          placing.pop();
          ordered.push(current);
        } else if (!placed.has(next.value)) enter(next.value);
      }
    }
    return ordered.filter((backend) => backend !== id);
  }

  /** Removes every edge that lies on a cycle (Tarjan's strongly connected components). */
  #dropCycles(): void {
    const index = new Map<BackendId, number>();
    const low = new Map<BackendId, number>();
    const stack: BackendId[] = [];
    const onStack = new Set<BackendId>();
    const component = new Map<BackendId, number>();
    let counter = 0;
    let components = 0;
    const lower = (id: BackendId, to: number) => low.set(id, Math.min(low.get(id) as number, to));
    // Tarjan's recursion unrolled onto a stack of frames (a long chain must not overflow the call stack).
    const frames: { id: BackendId; next: Iterator<BackendId> }[] = [];
    const open = (id: BackendId) => {
      index.set(id, counter);
      low.set(id, counter++);
      stack.push(id);
      onStack.add(id);
      frames.push({ id, next: (this.#dependsOn.get(id) ?? []).values() });
    };
    const connect = (root: BackendId) => {
      open(root);
      while (frames.length > 0) {
        const frame = frames.at(-1) as { id: BackendId; next: Iterator<BackendId> };
        const step = frame.next.next();
        if (!step.done) {
          if (!index.has(step.value)) open(step.value);
          else if (onStack.has(step.value)) lower(frame.id, index.get(step.value) as number);
          continue;
        }
        frames.pop();
        const { id } = frame;
        if (low.get(id) === index.get(id)) {
          let member: BackendId | undefined;
          do {
            member = stack.pop() as BackendId;
            onStack.delete(member);
            component.set(member, components);
          } while (member !== id);
          components++;
        }
        const parent = frames.at(-1);
        if (parent) lower(parent.id, low.get(id) as number);
      }
    };
    for (const id of this.#dependsOn.keys()) if (!index.has(id)) connect(id);
    for (const [id, dependencies] of this.#dependsOn) {
      const kept = dependencies.filter((dependency) => {
        const cyclic = dependency === id || component.get(dependency) === component.get(id);
        if (cyclic) this.problems.push({ backend: id, dependency, reason: 'cycle' });
        return !cyclic;
      });
      if (kept.length > 0) this.#dependsOn.set(id, kept);
      else this.#dependsOn.delete(id);
    }
  }
}
