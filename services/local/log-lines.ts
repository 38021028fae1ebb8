/** Turns the services' pino JSON lines into short readable ones for the terminal of `npm start`. */

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const SKIPPED = new Set(['level', 'time', 'pid', 'hostname', 'service', 'msg', 'component']);

export function formatLogLine(service: string, line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${service.padEnd(8)} ${line}`;
  }
  if (typeof entry !== 'object' || entry === null || typeof entry.msg !== 'string')
    return `${service.padEnd(8)} ${line}`;
  const level = LEVELS[entry.level as number] ?? String(entry.level ?? '');
  const details = Object.entries(entry)
    .filter(([key, value]) => !SKIPPED.has(key) && (typeof value !== 'object' || value === null))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const error = entry.err as { message?: string } | undefined;
  return `${service.padEnd(8)} ${level.padEnd(5)} ${entry.msg}${details ? `  ${details}` : ''}${error?.message ? `  error=${error.message}` : ''}`;
}
