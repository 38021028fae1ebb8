import { type BackendId, WakegateError } from '../shared/index.ts';

/** The workload does not exist, or exists without opting in to wakegate. Retrying will not help. */
export class WorkloadNotFoundError extends WakegateError {
  readonly backend: BackendId;
  constructor(backend: BackendId, detail = 'not found or not opted in') {
    super('workload_not_found', `workload ${backend}: ${detail}`);
    this.backend = backend;
  }
}
