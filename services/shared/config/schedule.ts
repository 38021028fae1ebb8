/**
 * Schedules of the `awake-during` and `asleep-during` settings: windows such as
 * `Mon-Fri 08:00-18:00 Europe/Berlin`, several separated by commas. Days are `Mon` … `Sun`, a range
 * (`Mon-Fri`, `Fri-Mon` wraps) or `daily`; times are `HH:MM` or `HH:MM:SS` in the window's time zone (an
 * IANA name, `UTC` when none is given), the end may be `24:00`, and an end before the start runs past
 * midnight into the next day (the day named is the one it starts on). Wall-clock times: a window on the day
 * a clock goes forward or back is that much shorter or longer. Time zones are the runtime's (`Intl`), never
 * computed here. Pure: the caller passes the time.
 */

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export interface ScheduleWindow {
  /** Days it starts on, 0 = Sunday. */
  days: ReadonlySet<number>;
  /** Seconds after local midnight. */
  start: number;
  end: number;
  timeZone: string;
}

export class ScheduleError extends Error {}

function parseDays(text: string): Set<number> {
  const lower = text.toLowerCase();
  if (lower === 'daily') return new Set([0, 1, 2, 3, 4, 5, 6]);
  const [from, to = from] = lower.split('-');
  const first = DAYS.indexOf(from as (typeof DAYS)[number]);
  const last = DAYS.indexOf(to as (typeof DAYS)[number]);
  if (first < 0 || last < 0)
    throw new ScheduleError(`unknown days ${JSON.stringify(text)} (Mon … Sun, Mon-Fri, daily)`);
  const days = new Set<number>();
  for (let day = first; ; day = (day + 1) % 7) {
    days.add(day);
    if (day === last) return days;
  }
}

function parseTime(text: string, allowDayEnd: boolean): number {
  const match = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  const [hours, minutes, seconds] = [Number(match?.[1]), Number(match?.[2]), Number(match?.[3] ?? 0)];
  const dayEnd = allowDayEnd && hours === 24 && minutes === 0 && seconds === 0;
  if (!match || ((hours > 23 || minutes > 59 || seconds > 59) && !dayEnd)) {
    throw new ScheduleError(`invalid time ${JSON.stringify(text)} (HH:MM or HH:MM:SS)`);
  }
  return hours * 3600 + minutes * 60 + seconds;
}

function checkTimeZone(name: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new ScheduleError(`unknown time zone ${JSON.stringify(name)}`);
  }
}

/** Parses a schedule; throws ScheduleError naming what is wrong. */
export function parseSchedule(text: string): ScheduleWindow[] {
  const windows = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const [days, times, timeZone = 'UTC', ...rest] = part.split(/\s+/);
      const [from, to, ...more] = (times ?? '').split('-');
      if (days === undefined || to === undefined || more.length > 0 || rest.length > 0) {
        throw new ScheduleError(`expected "<days> <HH:MM>-<HH:MM> [time zone]", got ${JSON.stringify(part)}`);
      }
      const start = parseTime(from ?? '', false);
      const end = parseTime(to, true);
      if (start === end) throw new ScheduleError(`window ${JSON.stringify(part)} is empty`);
      return { days: parseDays(days), start, end, timeZone: checkTimeZone(timeZone) };
    });
  if (windows.length === 0) throw new ScheduleError('no window given');
  return windows;
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  weekday: number;
  /** Seconds after local midnight. */
  seconds: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(atMs: number, timeZone: string): LocalTime {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(atMs)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: DAYS.indexOf((parts.weekday ?? '').toLowerCase() as (typeof DAYS)[number]),
    seconds: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
  };
}

/**
 * The instant the clocks of `timeZone` show `seconds` after midnight of the local date (year, month, day;
 * `dayOffset` days later). A time a clock skips (going forward) is taken as the instant the clock jumps
 * past it.
 */
function instantOf(timeZone: string, date: LocalTime, dayOffset: number, seconds: number): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day + dayOffset) + seconds * 1000;
  /** The wall-clock time the zone's clocks show at `at`, as if it were UTC. */
  const shown = (at: number) => {
    const local = localTime(at, timeZone);
    return Date.UTC(local.year, local.month - 1, local.day) + local.seconds * 1000;
  };
  // The offset at a first guess, then at the instant it gives: both agree except near a change of offset.
  const first = wall - (shown(wall) - wall);
  const second = wall - (shown(first) - first);
  let [low, high] = first < second ? [first, second] : [second, first];
  if (shown(low) === wall) return low;
  if (shown(high) === wall) return high;
  // The clock skips `wall`: the first second it shows a later time is when it jumps.
  while (high - low > 1000) {
    const middle = low + Math.floor((high - low) / 2000) * 1000;
    if (shown(middle) >= wall) high = middle;
    else low = middle;
  }
  return high;
}

/** The window `atMs` is in, as instants (start inclusive, end exclusive), or undefined. */
export function windowAt(
  schedule: readonly ScheduleWindow[],
  atMs: number,
): { startMs: number; endMs: number } | undefined {
  for (const window of schedule) {
    const now = localTime(atMs, window.timeZone);
    const overnight = window.end <= window.start;
    let startDay: number | undefined;
    if (
      window.days.has(now.weekday) &&
      now.seconds >= window.start &&
      (overnight || now.seconds < window.end)
    ) {
      startDay = 0;
    } else if (overnight && now.seconds < window.end && window.days.has((now.weekday + 6) % 7)) startDay = -1;
    if (startDay === undefined) continue;
    const startMs = instantOf(window.timeZone, now, startDay, window.start);
    const endMs = instantOf(window.timeZone, now, startDay + (overnight ? 1 : 0), window.end);
    // A wall-clock window the clock skipped entirely (inside a jump forward) holds no instant.
    if (atMs >= startMs && atMs < endMs) return { startMs, endMs };
  }
  return undefined;
}

const parsed = new Map<string, ScheduleWindow[] | undefined>();

/**
 * The window of the schedule `text` that `atMs` is in, or undefined; a schedule that does not parse (the
 * watcher reports it and drops it from the record) is never in force. Parsed once per distinct text.
 */
export function inSchedule(
  text: string | undefined,
  atMs: number,
): { startMs: number; endMs: number } | undefined {
  if (text === undefined) return undefined;
  if (!parsed.has(text)) {
    try {
      parsed.set(text, parseSchedule(text));
    } catch {
      parsed.set(text, undefined);
    }
  }
  const schedule = parsed.get(text);
  return schedule === undefined ? undefined : windowAt(schedule, atMs);
}
