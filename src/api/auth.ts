import type { NextFunction, Request, Response } from 'express';
import type { Db } from '../db/knex';
import { authenticate, type OperatorRole, type Principal } from '../orgs/organizations';
import { problems } from './problem';

/** Who may call a route: API keys, and/or operators with one of the roles. */
export type Allowed = { apiKey?: boolean; roles?: OperatorRole[] };

export const ANY_OPERATOR: OperatorRole[] = ['admin', 'analyst', 'auditor'];

export function requireAuth(db: Db, allowed: Allowed) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw problems.unauthorized();
    const principal = await authenticate(db, match[1]);
    if (!principal) throw problems.unauthorized('the token is unknown, revoked or disabled');
    const ok =
      principal.actor.type === 'api_key'
        ? allowed.apiKey === true
        : (allowed.roles ?? []).includes(principal.actor.role as OperatorRole);
    if (!ok) throw problems.forbidden();
    res.locals.principal = principal;
    next();
  };
}

export const principalOf = (res: Response): Principal => res.locals.principal as Principal;
