/** A VM's environment as Envoy builds it from `vm_config.environment_variables`
 * (source/extensions/common/wasm/wasm_config.cc): every `key_values` entry, then each `host_env_keys` name
 * that is set in Envoy's own environment (one that is not set is left out without a word); a key given twice,
 * in either list, rejects the configuration. proxy-wasm-cpp-host hands the result to the module through
 * WASI `environ_get` (wasi-imports.ts). */
import { HostError } from './errors.ts';

export type VmEnvironmentConfig = {
  /** `key_values`: fixed values. */
  keyValues?: Readonly<Record<string, string>>;
  /** `host_env_keys`: names copied from Envoy's own environment (`hostEnvironment`), when set there. */
  hostEnvKeys?: readonly string[];
};

/** `vm_config.environment_variables` names a key twice: Envoy rejects the configuration. */
export class VmEnvironmentError extends HostError {
  constructor(message: string) {
    super('invalid_vm_environment', message);
  }
}

export function vmEnvironment(
  config: VmEnvironmentConfig | undefined,
  hostEnvironment: Readonly<Record<string, string | undefined>>,
): ReadonlyMap<string, string> {
  const environment = new Map<string, string>(Object.entries(config?.keyValues ?? {}));
  const hostKeys = new Set<string>();
  for (const key of config?.hostEnvKeys ?? []) {
    if (environment.has(key) || hostKeys.has(key)) {
      throw new VmEnvironmentError(
        `Key ${key} is duplicated in envoy.extensions.wasm.v3.VmConfig.environment_variables: all the keys must be unique`,
      );
    }
    hostKeys.add(key);
    const value = hostEnvironment[key];
    if (value !== undefined) environment.set(key, value);
  }
  return environment;
}
