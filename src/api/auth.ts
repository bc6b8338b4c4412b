import type { NextFunction, Request, Response } from 'express';
import type { Db } from '../db/knex';
import { authenticate, type OperatorRole, type Principal } from '../orgs/organizations';
import { problems } from './problem';
import { clientIp, type RateLimiter } from './rateLimit';

/** Who may call a route: API keys, and/or operators with one of the roles. */
export type Allowed = { apiKey?: boolean; roles?: OperatorRole[] };

export const ANY_OPERATOR: OperatorRole[] = ['admin', 'analyst', 'auditor'];

export const rateLimiterOf = (req: Request): RateLimiter | undefined => req.app.locals.rateLimiter as RateLimiter | undefined;

export function requireAuth(db: Db, allowed: Allowed) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const limiter = rateLimiterOf(req);
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      limiter?.take('unauthenticated', clientIp(req));
      throw problems.unauthorized();
    }
    const principal = await authenticate(db, match[1]);
    if (!principal) {
      // Guessing tokens draws from the strict bucket of the caller's address.
      limiter?.take('unauthenticated', clientIp(req));
      throw problems.unauthorized('the token is unknown, revoked, expired or disabled');
    }
    limiter?.take('principal', `${principal.actor.type}:${principal.actor.id}`);
    const ok =
      principal.actor.type === 'api_key'
        ? allowed.apiKey === true
        : (allowed.roles ?? []).includes(principal.actor.role as OperatorRole);
    if (!ok) throw problems.forbidden();
    res.locals.principal = principal;
    next();
  };
}

/** After requireAuth: a per-organization bucket for routes that cost us more than a row read. */
export function limitPerOrganization(name: 'verify' | 'webhook_test') {
  return (req: Request, res: Response, next: NextFunction): void => {
    rateLimiterOf(req)?.take(name, principalOf(res).organizationId);
    next();
  };
}

export const principalOf = (res: Response): Principal => res.locals.principal as Principal;
