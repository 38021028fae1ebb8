/** The base of the host's errors: a stable `code` to switch on, and `name` set to the class's own (as the
 * services' errors have it). */
export class HostError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The module cannot run in an Envoy: a missing import, ABI marker, memory or allocator. */
export class ModuleLoadError extends HostError {
  constructor(message: string) {
    super('module_load_failed', message);
  }
}

/** `proxy_on_vm_start` or `proxy_on_configure` refused, or the module trapped while starting. */
export class PluginStartError extends HostError {
  /** What the module logged while starting: a refusal usually explains itself there. */
  readonly logs: readonly string[];

  constructor(message: string, logs: readonly string[]) {
    super('plugin_start_failed', logs.length > 0 ? `${message}: ${logs.join(' | ')}` : message);
    this.logs = logs;
  }
}
