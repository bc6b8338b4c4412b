import { randomBytes } from 'node:crypto';
import { checkLinkToken, LEGACY_LINK_TOKEN_LENGTH, LINK_TOKEN_LENGTH, linkTokenPolicy, mintLinkToken } from '../../src/domain/linkToken';

const SECRET = 'journey-link-secret-0123456789abcdef0123456789';
const policy = linkTokenPolicy(SECRET);

test('a minted token is 65 URL-safe characters and checks as authentic', () => {
  const token = mintLinkToken(policy);
  expect(token).toMatch(/^[A-Za-z0-9_-]{65}$/);
  expect(token).toHaveLength(LINK_TOKEN_LENGTH);
  expect(checkLinkToken(policy, token)).toBe('authentic');
});

test('a forged token of the right shape is refused, whichever character changed', () => {
  const token = mintLinkToken(policy);
  expect(checkLinkToken(policy, randomBytes(32).toString('base64url') + randomBytes(16).toString('base64url'))).toBe('refused');
  for (const at of [0, 42, 43, 64]) {
    const flipped = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    expect(checkLinkToken(policy, flipped)).toBe('refused');
  }
});

test('the tag is checked as text: another spelling of its last character is refused', () => {
  // The last of 22 base64url characters carries 2 bits of the 16-byte tag; its low 4 bits are padding.
  const token = mintLinkToken(policy);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(token[64]);
  const sibling = token.slice(0, 64) + alphabet[last ^ 1];
  expect(Buffer.from(sibling.slice(43), 'base64url')).toEqual(Buffer.from(token.slice(43), 'base64url'));
  expect(checkLinkToken(policy, sibling)).toBe('refused');
});

test('a token minted under another secret is refused, and accepted once that secret is a previous one', () => {
  const old = linkTokenPolicy('an-older-journey-link-secret-0123456789abcdef');
  const token = mintLinkToken(old);
  expect(checkLinkToken(policy, token)).toBe('refused');
  const rotated = linkTokenPolicy(SECRET, ['an-older-journey-link-secret-0123456789abcdef']);
  expect(checkLinkToken(rotated, token)).toBe('authentic');
  // New tokens are minted with the current secret.
  expect(checkLinkToken(policy, mintLinkToken(rotated))).toBe('authentic');
});

test('legacy 43-character tokens go on to the lookup only while that path is on', () => {
  const legacy = randomBytes(32).toString('base64url');
  expect(legacy).toHaveLength(LEGACY_LINK_TOKEN_LENGTH);
  expect(checkLinkToken(policy, legacy)).toBe('legacy');
  expect(checkLinkToken(linkTokenPolicy(SECRET, [], false), legacy)).toBe('refused');
});

test('other lengths and characters are refused', () => {
  for (const token of ['', 'short', 'x'.repeat(20), 'x'.repeat(64), 'x'.repeat(66), 'x'.repeat(100), `${'A'.repeat(42)}.`, `${'A'.repeat(64)}=`]) {
    expect(checkLinkToken(policy, token)).toBe('refused');
  }
});
