import { connect } from 'node:http2';

/** One GET over HTTP/2 without TLS (a gRPC server's port). */
function probeH2c(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const session = connect(target.origin);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      session.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    session.on('error', () => done(false));
    const stream = session.request({ ':method': 'GET', ':path': `${target.pathname}${target.search}` });
    stream.on('error', () => done(false));
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      done(status >= 200 && status < 400);
    });
    stream.end();
  });
}

/** One HTTP GET (HTTP/1.1, or HTTP/2 without TLS for `h2c`); true for any 2xx or 3xx answer within the
 * timeout. Never throws. */
export async function probeHttp(
  url: string,
  timeoutMs = 1000,
  protocol: 'http1' | 'h2c' = 'http1',
): Promise<boolean> {
  if (protocol === 'h2c') return probeH2c(url, timeoutMs);
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
