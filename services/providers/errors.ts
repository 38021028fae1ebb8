import type { BackendId } from '../shared/index.ts';

/** The workload does not exist, or exists without opting in to wakegate. Retrying will not help. */
export class WorkloadNotFoundError extends Error {
  readonly backend: BackendId;
  constructor(backend: BackendId, detail = 'not found or not opted in') {
    super(`workload ${backend}: ${detail}`);
    this.name = 'WorkloadNotFoundError';
    this.backend = backend;
  }
}
