/** Failures of Kubernetes API calls, as the provider tells them apart and logs them. */
import { ApiException } from '@kubernetes/client-node';
import { asError } from '../../shared/index.ts';

/** The HTTP status the API server answered with; undefined for anything else (a network failure). */
export function apiStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  // client-node's Watch fails a watch request answered with an error status with a plain Error carrying it.
  const status = typeof error === 'object' && error !== null && 'statusCode' in error && error.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** For a log's `err`: client-node's message carries the whole response body and headers, so only the status. */
export function loggedApiError(error: unknown): Error {
  const status = apiStatus(error);
  return status === undefined ? asError(error) : new Error(`HTTP ${status}`);
}
