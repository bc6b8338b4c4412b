import type { NextFunction, Request, Response } from 'express';
import type { Config } from '../config';
import { parseRateLimit, TokenBuckets } from '../domain/tokenBucket';
import { countRateLimited } from './metrics';
import { HttpProblem } from './problem';

// Which bucket a request draws from. Every request takes from its IP's bucket; requests
// without a credential (journey links, failed authentication) also from the strict
// unauthenticated one; authenticated ones from their principal's; verify and the webhook
// test send, which cost us a table scan or an outbound request, from their organization's.
export type LimitName = 'ip' | 'unauthenticated' | 'principal' | 'verify' | 'webhook_test';

export class RateLimiter {
  private readonly buckets = new Map<LimitName, TokenBuckets>();

  constructor(
    config: Pick<Config, 'RATE_LIMIT_IP' | 'RATE_LIMIT_UNAUTHENTICATED' | 'RATE_LIMIT_PRINCIPAL' | 'RATE_LIMIT_VERIFY' | 'RATE_LIMIT_WEBHOOK_TEST'>,
    private readonly now: () => number = Date.now,
  ) {
    const limits: Record<LimitName, string> = {
      ip: config.RATE_LIMIT_IP,
      unauthenticated: config.RATE_LIMIT_UNAUTHENTICATED,
      principal: config.RATE_LIMIT_PRINCIPAL,
      verify: config.RATE_LIMIT_VERIFY,
      webhook_test: config.RATE_LIMIT_WEBHOOK_TEST,
    };
    for (const [name, text] of Object.entries(limits) as [LimitName, string][]) {
      const limit = parseRateLimit(text);
      if (limit) this.buckets.set(name, new TokenBuckets(limit));
    }
  }

  /** Throws a 429 problem (with Retry-After) when `key` has no request left under `name`. */
  take(name: LimitName, key: string): void {
    const result = this.buckets.get(name)?.take(key, this.now());
    if (!result || result.ok) return;
    countRateLimited(name);
    throw new HttpProblem(
      429,
      'rate-limited',
      'Too many requests',
      `rate limit "${name}" reached; retry in ${result.retryAfterSeconds} s`,
      undefined,
      { 'Retry-After': String(result.retryAfterSeconds) },
    );
  }

  /** Middleware taking from `name`, keyed by what `keyOf` returns (the IP by default). */
  middleware(name: LimitName, keyOf: (req: Request, res: Response) => string = (req) => clientIp(req)) {
    return (req: Request, res: Response, next: NextFunction): void => {
      this.take(name, keyOf(req, res));
      next();
    };
  }
}

export const clientIp = (req: Request): string => req.ip ?? req.socket.remoteAddress ?? 'unknown';
