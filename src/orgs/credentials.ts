import { createHash, randomBytes } from 'node:crypto';

// Bearer tokens: 32 random bytes, shown once, stored only as a SHA-256 hash. The prefix tells
// a human (and secret scanners) what kind of credential leaked.
export type TokenKind = 'api_key' | 'operator';
const prefixes: Record<TokenKind, string> = { api_key: 'kyc_sk_', operator: 'kyc_op_' };

export function newToken(kind: TokenKind): string {
  return prefixes[kind] + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Session links carry their own random token, looked up by hash like credentials. */
export function newLinkToken(): string {
  return randomBytes(32).toString('base64url');
}
