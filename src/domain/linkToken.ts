import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Journey link tokens carry a MAC of their random part, so a forged one is refused with two
// HMACs of CPU and no database query (docs/security.md, "Link tokens"). Format: 32 random bytes
// then the first 16 bytes of HMAC-SHA256(key, those bytes), each base64url: 43 + 22 = 65
// characters. Links issued before had 43 characters of randomness only ("legacy"): while
// their path is on they still go to the database; once off they are refused like forgeries.

const RANDOM_BYTES = 32;
const TAG_BYTES = 16;
const RANDOM_CHARS = 43; // base64url of 32 bytes, unpadded
export const LEGACY_LINK_TOKEN_LENGTH = RANDOM_CHARS;
export const LINK_TOKEN_LENGTH = RANDOM_CHARS + 22;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface LinkTokenPolicy {
  /** Mints with the first; checks with each (the others are previous keys during a rotation). */
  keys: Buffer[];
  /** Whether 43-character tokens of links issued before MACs go on to the database lookup. */
  legacy: boolean;
}

/** The MAC key, derived from a server secret under its own label so it is used for nothing else. */
export function linkMacKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('kyc journey link token v1').digest();
}

export function linkTokenPolicy(secret: string, previous: string[] = [], legacy = true): LinkTokenPolicy {
  return { keys: [secret, ...previous].map(linkMacKey), legacy };
}

const tagOf = (key: Buffer, random: string): Buffer => createHmac('sha256', key).update(random).digest().subarray(0, TAG_BYTES);

export function mintLinkToken(policy: LinkTokenPolicy, random: Buffer = randomBytes(RANDOM_BYTES)): string {
  const part = random.toString('base64url');
  return part + tagOf(policy.keys[0], part).toString('base64url');
}

export type LinkTokenVerdict = 'authentic' | 'legacy' | 'refused';

/** Pure CPU: 'authentic' and 'legacy' tokens go on to the lookup, 'refused' ones never reach it. */
export function checkLinkToken(policy: LinkTokenPolicy, token: string): LinkTokenVerdict {
  if (!BASE64URL.test(token)) return 'refused';
  if (token.length === LEGACY_LINK_TOKEN_LENGTH) return policy.legacy ? 'legacy' : 'refused';
  if (token.length !== LINK_TOKEN_LENGTH) return 'refused';
  const part = token.slice(0, RANDOM_CHARS);
  // Decoding then comparing bytes would accept the other spellings of the tag's last
  // character; comparing the canonical text does not.
  const given = Buffer.from(token.slice(RANDOM_CHARS));
  for (const key of policy.keys) {
    const expected = Buffer.from(tagOf(key, part).toString('base64url'));
    if (expected.length === given.length && timingSafeEqual(expected, given)) return 'authentic';
  }
  return 'refused';
}
