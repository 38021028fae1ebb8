/** Test fixture: a valid `wakegate-backends` value, as the watcher writes it, with the default settings. */
import { type BackendRecord, DEFAULT_BACKEND_CONFIG } from '../services/shared/index.ts';

/** `shop/api` gets host `shop-api.example.com`; replicas follow readiness unless overridden. */
export function backendRecord(
  id: string,
  ready: boolean,
  overrides: Partial<BackendRecord> = {},
): BackendRecord {
  return {
    id,
    hosts: [`${id.replace('/', '-')}.example.com`],
    ready,
    replicas: ready ? 1 : 0,
    readyReplicas: ready ? 1 : 0,
    config: { ...DEFAULT_BACKEND_CONFIG },
    updatedAt: Date.now(),
    ...overrides,
  };
}
