/**
 * Which generations compare: a generation (Kubernetes `metadata.generation`) counts the changes of one
 * workload object, and a workload deleted and created again under the same name is another object whose
 * generations start again at 1. Records, intents and `scaled` messages carry the object's uid beside their
 * generations where the platform has one.
 */

/**
 * Whether two uids may name the same workload object: only two known, different uids do not. A value
 * without one (an older watcher or scaler, a provider without object identities) compares as it did before
 * uids were recorded.
 */
export function sameWorkload(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}
