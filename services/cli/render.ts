/**
 * What the `wakegate` command prints for people (everything with `--json` is the API's own JSON): the
 * status table, a wake's phases, and one line per state change. Pure: colours are passed in (picocolors
 * turns them off without a terminal or with NO_COLOR).
 */
import Table from 'cli-table3';
import type { BackendState, ControlRow, LastWake, StateChange } from '../bridge/index.ts';

export interface Colors {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  magenta(text: string): string;
}

const STATE_COLOR: Record<BackendState, keyof Colors> = {
  awake: 'green',
  waking: 'yellow',
  draining: 'magenta',
  asleep: 'dim',
};

export function state(colors: Colors, value: BackendState | undefined): string {
  return value === undefined ? colors.dim('gone') : colors[STATE_COLOR[value]](value);
}

/** `850 ms`, `1.25 s`, `2 m 05 s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} m ${String(seconds % 60).padStart(2, '0')} s`;
}

/** `1.25 s (scale 120 ms, ready 1.13 s)`, or what is known of a wake under way. */
export function wakeSummary(wake: LastWake | undefined): string {
  if (wake === undefined) return '—';
  const { scaleMs, readyMs, totalMs } = wake.phases;
  const parts = [
    scaleMs === undefined ? undefined : `scale ${duration(scaleMs)}`,
    readyMs === undefined ? undefined : `ready ${duration(readyMs)}`,
  ].filter((part) => part !== undefined);
  const detail = parts.length > 0 ? ` (${parts.join(', ')})` : '';
  return totalMs === undefined ? `under way${detail}` : `${duration(totalMs)}${detail}`;
}

/** `front`, `needs shop/db`, `front; needs shop/db`, or `—`. */
export function relations(row: Pick<ControlRow, 'group' | 'dependsOn'>): string {
  const parts = [row.group, row.dependsOn && `needs ${row.dependsOn.join(', ')}`].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : '—';
}

export function statusTable(rows: readonly ControlRow[], colors: Colors): string {
  if (rows.length === 0) return 'no backends (nothing has opted in, or the watcher has not listed any yet)';
  const table = new Table({
    head: ['BACKEND', 'STATE', 'READY/REPLICAS', 'HOSTS', 'GROUP / NEEDS', 'LAST WAKE'].map((title) =>
      colors.bold(title),
    ),
    style: { head: [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const row of rows) {
    table.push([
      row.id,
      state(colors, row.state),
      `${row.readyReplicas}/${row.replicas}`,
      row.hosts.join(', '),
      relations(row),
      wakeSummary(row.lastWake),
    ]);
  }
  return table.toString();
}

/** `12:00:01.250  shop/api  asleep → waking`, in the local time zone. */
export function changeLine(change: StateChange, colors: Colors): string {
  const time = new Date(change.at).toLocaleTimeString('en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    fractionalSecondDigits: 3,
    hour12: false,
  });
  return `${colors.dim(time)}  ${change.id}  ${state(colors, change.previous)} → ${state(colors, change.state)}`;
}
