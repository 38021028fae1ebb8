/**
 * The process provider: backends are local processes declared in a YAML file (`WAKEGATE_PROCESS_CONFIG`),
 * all in namespace `local`. See docs/local-mode.md.
 */
import type { BackendSource, ProviderContext, WorkloadScaler } from '../provider.ts';
import { ProcessBackendSource } from './backend-source.ts';
import { loadProcessConfig, PROCESS_NAMESPACE, type ProcessConfig } from './config.ts';
import { ProcessWorkloadScaler } from './workload-scaler.ts';

export {
  loadProcessConfig,
  PROCESS_NAMESPACE,
  type ProcessBackend,
  type ProcessConfig,
  ProcessConfigError,
  parseProcessConfig,
} from './config.ts';
export { ProcessStartError } from './process-group.ts';
/** The scaler's record of the processes it runs (the state file): where it is by default, reading and
 * following it. */
export {
  defaultStateFolder,
  readProcessState,
  UnsafeStateFileError,
  watchProcessState,
} from './state-file.ts';

/** Backends outside the watched namespaces are invisible, as on every other platform. */
async function configFor(context: ProviderContext): Promise<ProcessConfig> {
  const config = await loadProcessConfig(context.processConfig);
  if (config.deprecatedFields.length > 0) {
    context.logger.warn(
      { file: config.path, fields: config.deprecatedFields },
      'health-path is deprecated: rename it probe-path',
    );
  }
  if (context.namespaces.length > 0 && !context.namespaces.includes(PROCESS_NAMESPACE))
    config.backends.clear();
  return config;
}

export async function createBackendSource(context: ProviderContext): Promise<BackendSource> {
  return ProcessBackendSource.create(await configFor(context), context.logger);
}

export async function createWorkloadScaler(context: ProviderContext): Promise<WorkloadScaler> {
  return ProcessWorkloadScaler.create(await configFor(context), context.logger);
}
