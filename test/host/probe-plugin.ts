/** The host's probe module (wasm-filter/test-modules/probe.ts) in a plugin, as the host's tests run it: the
 * configuration names what the probe does, its logs are captured and its clock is manual. */
import { testModulePath } from '../../wasm-filter/build.ts';
import {
  createPlugin,
  type LogEntry,
  ManualClock,
  type Plugin,
  type PluginOptions,
  type StreamOutcome,
} from '../../wasm-filter/host/index.ts';

export const probe = testModulePath('probe');

let plugins: Plugin[] = [];

/** Has `closePlugins` close the plugin too. */
export function closeAfterTest(plugin: Plugin): void {
  plugins.push(plugin);
}

/** Closes every plugin `run` started: call it after each test. */
export function closePlugins(): void {
  for (const p of plugins) p.close();
  plugins = [];
}

export async function run(mode: string, options: Partial<PluginOptions> = {}) {
  const logs: string[] = [];
  const entries: LogEntry[] = [];
  const clock = new ManualClock();
  const plugin = await createPlugin({
    module: probe,
    configuration: mode,
    clock,
    onLog: (e) => {
      logs.push(e.message);
      entries.push(e);
    },
    ...options,
  });
  plugins.push(plugin);
  return { plugin, logs, entries, clock };
}

export const get = { ':method': 'GET', ':path': '/', ':authority': 'example.com' };

export function continued(o: StreamOutcome | undefined) {
  if (o?.kind !== 'continue') throw new Error(`expected continue, got ${JSON.stringify(o)}`);
  return o;
}
