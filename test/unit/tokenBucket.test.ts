import { parseRateLimit, TokenBuckets } from '../../src/domain/tokenBucket';

test('parses N/period and off', () => {
  expect(parseRateLimit('60/1m')).toEqual({ capacity: 60, periodMs: 60_000 });
  expect(parseRateLimit('off')).toBeNull();
  expect(() => parseRateLimit('60 per minute')).toThrow();
});

test('a bucket allows its burst, then refills at its rate, per key', () => {
  const b = new TokenBuckets({ capacity: 2, periodMs: 60_000 });
  expect(b.take('a', 0).ok).toBe(true);
  expect(b.take('a', 0).ok).toBe(true);
  expect(b.take('a', 0)).toEqual({ ok: false, retryAfterSeconds: 30 });
  expect(b.take('b', 0).ok).toBe(true);
  expect(b.take('a', 30_000).ok).toBe(true);
  expect(b.take('a', 30_000).ok).toBe(false);
});

test('remembers a bounded number of keys', () => {
  const b = new TokenBuckets({ capacity: 1, periodMs: 60_000 }, 2);
  b.take('a', 0);
  b.take('b', 0);
  b.take('c', 0);
  // 'a' was forgotten: it starts full again.
  expect(b.take('a', 0).ok).toBe(true);
});
