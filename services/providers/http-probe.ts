/** One HTTP GET; true for any 2xx or 3xx answer within the timeout. Never throws. */
export async function probeHttp(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 400;
  } catch {
    return false;
  }
}

/** The URL of a probe path on an endpoint address; an IPv6 address goes in brackets. */
export function probeUrlOf(address: string, port: number, path: string): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}${path}`;
}
