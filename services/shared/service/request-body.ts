import type { IncomingHttpHeaders } from 'node:http';

/** Whether a request's headers announce a body: chunked, or a length other than 0. */
export function announcesBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
