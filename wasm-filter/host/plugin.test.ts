// Loading a module and starting its root contexts, as Envoy does.
import { afterEach, describe, expect, it } from 'vitest';
import { closePlugins, probe, run } from '../../test/host/probe-plugin.ts';
import { testModulePath } from '../build.ts';
import { createPlugin, type LogEntry, ModuleLoadError, PluginStartError } from './index.ts';

afterEach(closePlugins);

describe('loading', () => {
  it('refuses a module that imports what Envoy does not provide', async () => {
    // (module (import "env" "seed" (func (result f64))) (memory (export "memory") 1)) by hand.
    const bytes = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 124, 2, 12, 1, 3, 101, 110, 118, 4, 115, 101, 101, 100,
      0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 109, 101, 109, 111, 114, 121, 2, 0,
    ]);
    await expect(createPlugin({ module: bytes })).rejects.toThrow(ModuleLoadError);
  });

  it.each([
    ['missing-import', 'an env function the host does not provide (LinkError in V8)'],
    ['missing-import-module', 'a module the host does not provide (TypeError in V8)'],
  ])('refuses %s, which imports %s, as ModuleLoadError', async (name) => {
    const error = await createPlugin({ module: testModulePath(name) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModuleLoadError);
    expect((error as ModuleLoadError).message).toMatch(
      /^missing import: .*(proxy_not_in_envoy|missing-import-module)/,
    );
  });

  it('refuses a module without the ABI marker', async () => {
    // (module (memory (export "memory") 1))
    const bytes = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 109, 101, 109, 111, 114, 121, 2, 0,
    ]);
    await expect(createPlugin({ module: bytes })).rejects.toThrow(/proxy_abi_version_0_2_1/);
  });

  it('starts a root context per worker: create, vm start with the vm configuration, configure', async () => {
    const { logs, plugin } = await run('lifecycle', { vmConfiguration: 'vm-config', workers: 2 });
    expect(logs).toEqual([
      'create 1 0',
      'vm_start 1 vm-config',
      'configure 1 lifecycle',
      'create 1 0',
      'vm_start 1 vm-config',
      'configure 1 lifecycle',
    ]);
    expect(plugin.workers.map((w) => w.rootContextId)).toEqual([1, 1]);
  });

  it('fails to start when configure returns false or vm start refuses', async () => {
    await expect(run('reject')).rejects.toThrow(PluginStartError);
    await expect(run('lifecycle', { vmConfiguration: 'refuse' })).rejects.toThrow(/refused/);
  });

  it('reports an abort through proxy_log and fails the start', async () => {
    const logs: LogEntry[] = [];
    const error = await createPlugin({
      module: probe,
      configuration: 'abort',
      onLog: (e) => logs.push(e),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginStartError);
    expect(logs.find((l) => l.level === 'critical' && l.message.includes('wasm abort'))?.message).toContain(
      'probe gave up at probe.ts:7:9',
    );
  });
});
