import { describe, expect, it } from 'vitest';
import { asError, InvalidBackendIdError, PayloadError, WakegateError } from './errors.ts';

describe('errors', () => {
  it('name each error after its class and carry a stable code', () => {
    const error = new InvalidBackendIdError('A/B', 'upper case');
    expect(error).toBeInstanceOf(WakegateError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('InvalidBackendIdError');
    expect(error.code).toBe('invalid_backend');
    expect(new PayloadError('wake message', 'not JSON')).toMatchObject({
      name: 'PayloadError',
      code: 'invalid_payload',
      message: 'invalid wake message: not JSON',
    });
  });

  it('turn anything thrown into an Error for the log, keeping an Error as it is', () => {
    const error = new Error('boom');
    expect(asError(error)).toBe(error);
    expect(asError('refused')).toEqual(new Error('refused'));
    expect(asError(undefined).message).toBe('undefined');
  });
});
