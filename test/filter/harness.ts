/** The filter under test, as the filter's tests start it: against the bridge fixture on a manual clock, its
 * logs captured; and the requests, expectations and table entries those tests share. */
import { expect } from 'vitest';
import {
  type HeaderPairs,
  type LogEntry,
  ManualClock,
  type Plugin,
  type Stream,
  type StreamOutcome,
} from '../../wasm-filter/host/index.ts';
import { type FilterSetup, startFilter, type TableBackend } from './bridge-fixture.ts';

let plugins: Plugin[] = [];

/** Closes every plugin `start` made: call it after each test. */
export function closeFilters(): void {
  for (const p of plugins) p.close();
  plugins = [];
}

export type Setup = Omit<FilterSetup, 'clock' | 'logLevel' | 'onLog'>;

export async function start(setup: Setup = {}) {
  const clock = new ManualClock();
  const logs: LogEntry[] = [];
  let listeners: ((e: LogEntry) => void)[] = [];
  /** Resolves with the next log line containing the text. */
  const logged = (text: string) =>
    new Promise<LogEntry>((resolve) => {
      const listener = (e: LogEntry) => {
        if (!e.message.includes(text)) return;
        listeners = listeners.filter((l) => l !== listener);
        resolve(e);
      };
      listeners.push(listener);
    });
  const { bridge, plugin } = await startFilter({
    ...setup,
    clock,
    logLevel: 'debug',
    onLog: (e) => {
      logs.push(e);
      for (const l of [...listeners]) l(e);
    },
  });
  plugins.push(plugin);
  return { bridge, clock, plugin, logs, logged };
}

export function request(
  plugin: Plugin,
  authority: string,
  extra: Record<string, string> = {},
  worker?: number,
): Stream {
  return plugin.openStream({
    headers: { ':method': 'GET', ':path': '/hello', ':scheme': 'http', ':authority': authority, ...extra },
    worker,
  });
}

export function expectContinue(o: StreamOutcome | undefined): HeaderPairs {
  expect(o?.kind).toBe('continue');
  return o?.kind === 'continue' ? o.headers : [];
}

export function expectReply(o: StreamOutcome | undefined) {
  expect(o?.kind).toBe('local-reply');
  if (o?.kind !== 'local-reply') throw new Error('not a local reply');
  return o;
}

/** The id an activity report names its VM by. */
export const sourceId = expect.stringMatching(/^[0-9a-f]{16}$/);

export const sleeping: TableBackend = {
  id: 'demo/app',
  hosts: ['app.example.com', '*.apps.example.com'],
  ready: false,
};
export const awake: TableBackend = { ...sleeping, ready: true };
