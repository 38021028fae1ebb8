/** The module cannot run in an Envoy: a missing import, ABI marker, memory or allocator. */
export class ModuleLoadError extends Error {
  override name = 'ModuleLoadError';
}

/** `proxy_on_vm_start` or `proxy_on_configure` refused, or the module trapped while starting. */
export class PluginStartError extends Error {
  override name = 'PluginStartError';
  /** What the module logged while starting: a refusal usually explains itself there. */
  readonly logs: readonly string[];

  constructor(message: string, logs: readonly string[]) {
    super(logs.length > 0 ? `${message}: ${logs.join(' | ')}` : message);
    this.logs = logs;
  }
}
