import { describe, expect, it } from 'vitest';
import { inSchedule, parseSchedule, windowAt } from './schedule.ts';

const at = (iso: string) => Date.parse(iso);
const window = (schedule: string, iso: string) => {
  const found = windowAt(parseSchedule(schedule), at(iso));
  return found && { start: new Date(found.startMs).toISOString(), end: new Date(found.endMs).toISOString() };
};

describe('schedules', () => {
  it('finds office hours in Berlin, in winter and in summer time', () => {
    const office = 'Mon-Fri 08:00-18:00 Europe/Berlin';
    // Friday 27 March 2026, CET (+1).
    expect(window(office, '2026-03-27T07:00:00Z')).toEqual({
      start: '2026-03-27T07:00:00.000Z',
      end: '2026-03-27T17:00:00.000Z',
    });
    expect(window(office, '2026-03-27T06:59:59Z')).toBeUndefined();
    expect(window(office, '2026-03-27T17:00:00Z')).toBeUndefined();
    // Saturday and Sunday: closed.
    expect(window(office, '2026-03-28T10:00:00Z')).toBeUndefined();
    // Monday 30 March, after the clocks went forward: CEST (+2).
    expect(window(office, '2026-03-30T06:00:00Z')).toEqual({
      start: '2026-03-30T06:00:00.000Z',
      end: '2026-03-30T16:00:00.000Z',
    });
    expect(window(office, '2026-03-30T05:59:59Z')).toBeUndefined();
  });

  it('counts wall-clock time across the night the clocks change', () => {
    // 29 March 2026 in Berlin: 02:00 CET becomes 03:00 CEST, at 01:00 UTC; the window lasts two hours.
    expect(window('Sun 01:00-04:00 Europe/Berlin', '2026-03-29T01:30:00Z')).toEqual({
      start: '2026-03-29T00:00:00.000Z',
      end: '2026-03-29T02:00:00.000Z',
    });
    // A window starting in the skipped hour starts when the clocks jump.
    expect(window('Sun 02:30-05:00 Europe/Berlin', '2026-03-29T01:00:00Z')).toEqual({
      start: '2026-03-29T01:00:00.000Z',
      end: '2026-03-29T03:00:00.000Z',
    });
    // 25 October 2026: 03:00 CEST becomes 02:00 CET, at 01:00 UTC; the window lasts four hours.
    expect(window('Sun 01:00-04:00 Europe/Berlin', '2026-10-25T02:30:00Z')).toEqual({
      start: '2026-10-24T23:00:00.000Z',
      end: '2026-10-25T03:00:00.000Z',
    });
    // New York, 8 March 2026: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    expect(window('daily 00:00-12:00 America/New_York', '2026-03-08T10:00:00Z')).toEqual({
      start: '2026-03-08T05:00:00.000Z',
      end: '2026-03-08T16:00:00.000Z',
    });
  });

  it('runs a window past midnight into the next day, from the day it starts on', () => {
    const night = 'Fri 22:00-06:00 UTC, Sat 10:00-14:00:30';
    expect(window(night, '2026-03-28T05:59:59Z')).toEqual({
      start: '2026-03-27T22:00:00.000Z',
      end: '2026-03-28T06:00:00.000Z',
    });
    expect(window(night, '2026-03-28T06:00:00Z')).toBeUndefined();
    expect(window(night, '2026-03-28T14:00:10Z')?.end).toBe('2026-03-28T14:00:30.000Z');
    // Thursday night is not in it.
    expect(window(night, '2026-03-27T03:00:00Z')).toBeUndefined();
    expect(window('Fri-Mon 00:00-24:00 Asia/Tokyo', '2026-03-29T20:00:00Z')?.end).toBe(
      '2026-03-30T15:00:00.000Z',
    );
  });

  it('names what is wrong in a schedule, and never applies one that does not parse', () => {
    expect(() => parseSchedule('Mon-Fri 08:00-18:00 Mars/Olympus')).toThrow(
      'unknown time zone "Mars/Olympus"',
    );
    expect(() => parseSchedule('Weekdays 08:00-18:00')).toThrow('unknown days "Weekdays"');
    expect(() => parseSchedule('Mon 8:00-18:00')).toThrow('invalid time "8:00"');
    expect(() => parseSchedule('Mon 08:00-08:00')).toThrow('is empty');
    expect(() => parseSchedule('Mon 08:00')).toThrow('expected "<days> <HH:MM>-<HH:MM> [time zone]"');
    expect(() => parseSchedule(' , ')).toThrow('no window given');
    expect(inSchedule('Mon 25:00-26:00', at('2026-03-30T00:30:00Z'))).toBeUndefined();
    expect(inSchedule(undefined, at('2026-03-30T00:30:00Z'))).toBeUndefined();
    expect(inSchedule('daily 00:00-24:00', at('2026-03-30T00:30:00Z'))).toEqual({
      startMs: at('2026-03-30T00:00:00Z'),
      endMs: at('2026-03-31T00:00:00Z'),
    });
  });
});
