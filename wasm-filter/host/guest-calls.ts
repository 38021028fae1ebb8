/** What the parts of a VM (its streams, root contexts and http calls) need of the VM itself. */
export type GuestCalls = {
  /** Calls the module's export in that context; undefined when the module lacks it or the VM has failed. */
  call(contextId: number, name: string, ...args: number[]): number | undefined;
  /** The module trapped: the VM is dead. */
  failed(): boolean;
  /** The worker has been closed. */
  closed(): boolean;
};
