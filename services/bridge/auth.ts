import { hash, timingSafeEqual } from 'node:crypto';

/**
 * Who may call `/v1`: whoever presents one of the tokens (two while a token is being rotated), or anyone,
 * but only when the operator opened the bridge on purpose (`WAKEGATE_BRIDGE_ALLOW_ANONYMOUS=true`).
 */
export type BridgeAuth = { readonly tokens: readonly string[] } | { readonly anonymous: true };

/** One-shot: no Hash object per call, on the path of every call (thousands of long polls at once). */
const digest = (value: string) => hash('sha256', value, 'buffer');

/**
 * Checks `Authorization: Bearer <token>` against every accepted token in constant time. Both sides are
 * hashed first so each comparison runs over equal lengths whatever the length of the token sent, and every
 * token is compared (no early exit), so neither which token matched nor how many there are shows in the time.
 */
export function bearerTokenCheck(tokens: readonly string[]): (authorization: string | undefined) => boolean {
  const expected = tokens.map(digest);
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    // Compare even when the header is missing, so a missing and a wrong token cost the same.
    const presented = digest(match?.[1] ?? '');
    let accepted = false;
    for (const token of expected) accepted = timingSafeEqual(presented, token) || accepted;
    return accepted && match !== null;
  };
}
