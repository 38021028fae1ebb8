import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Checks `Authorization: Bearer <token>` in constant time. Both sides are hashed first so the comparison
 * runs over equal lengths and takes the same time whatever the length of the token sent.
 */
export function bearerTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    const presented = digest(match?.[1] ?? '');
    // Compare even when the header is missing, so a missing and a wrong token cost the same.
    return timingSafeEqual(presented, expected) && match !== null;
  };
}
