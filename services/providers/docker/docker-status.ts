/** The HTTP status dockerd answered with, as docker-modem attaches it to its errors; undefined otherwise. */
export function dockerStatus(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
