const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;

/** Whole milliseconds a duration may have: a longer one (400 digits make Infinity) is refused, not taken
 * as a number that JSON writes as null. */
const exact = (ms: number) => (Number.isSafeInteger(ms) ? ms : undefined);

/**
 * Parses a Go-style duration (`1500ms`, `30s`, `5m`, `1h30m`) into milliseconds, or a bare integer as
 * milliseconds. Returns undefined for anything else, and for more milliseconds than a double holds exactly.
 */
export function parseDurationMs(input: string): number | undefined {
  const text = input.trim();
  if (/^\d+$/.test(text)) return exact(Number(text));
  if (text.length === 0) return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return exact(Math.round(total));
}
