import { type BackendId, type BackendRef, InvalidBackendIdError, parseBackendId } from '../shared/index.ts';
import { WorkloadNotFoundError } from './errors.ts';

/**
 * The workload a scaler is asked about. An invalid id, or one outside the watched namespaces (none listed
 * means all), names no workload the scaler may touch: WorkloadNotFoundError, as the WorkloadScaler contract
 * says, before the id reaches a platform API.
 */
export function workloadRef(id: BackendId, namespaces: readonly string[] = []): BackendRef {
  let ref: BackendRef;
  try {
    ref = parseBackendId(id);
  } catch (error) {
    if (error instanceof InvalidBackendIdError) throw new WorkloadNotFoundError(id, error.message);
    throw error;
  }
  if (namespaces.length > 0 && !namespaces.includes(ref.namespace)) {
    throw new WorkloadNotFoundError(id, `namespace ${ref.namespace} is not watched`);
  }
  return ref;
}
