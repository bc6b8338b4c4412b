// In-process token buckets: `capacity` requests at once, refilled continuously at
// capacity per `periodMs`. Pure (the clock is passed in), so tests need no timing.

export interface RateLimit {
  capacity: number;
  periodMs: number;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "60/1m" = 60 requests per minute (burst 60); "off" = no limit. */
export function parseRateLimit(text: string): RateLimit | null {
  if (text === 'off') return null;
  const m = /^(\d+)\/(\d+)([smhd])$/.exec(text);
  if (!m) throw new TypeError(`not a rate limit: ${text}`);
  const capacity = Number(m[1]);
  const periodMs = Number(m[2]) * UNIT_MS[m[3]];
  if (capacity < 1 || periodMs < 1) throw new TypeError(`not a rate limit: ${text}`);
  return { capacity, periodMs };
}

export const RATE_LIMIT_RE = /^(off|[1-9]\d*\/[1-9]\d*[smhd])$/;

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: RateLimit,
    /** Bound on remembered keys: the oldest are forgotten first (they would be full anyway soon). */
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token for `key`; when none is left, the seconds until one is back. */
  take(key: string, now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const { capacity, periodMs } = this.limit;
    const ratePerMs = capacity / periodMs;
    const b = this.buckets.get(key) ?? { tokens: capacity, at: now };
    b.tokens = Math.min(capacity, b.tokens + Math.max(0, now - b.at) * ratePerMs);
    b.at = now;
    // Re-insert so Map order is least-recently-used first.
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000)) };
  }
}
