import type { Request, Response } from 'express';
import type { AuditActor, AuditContext } from '../audit/ledger';
import type { Principal } from '../orgs/organizations';
import { principalOf } from './auth';

/** Request id, client address and user agent of the current request, for ledger events. */
export function auditContext(req: Request, res: Response): AuditContext {
  return { requestId: res.locals.requestId ?? null, ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null };
}

export function actorOf(principal: Principal): AuditActor {
  return { type: principal.actor.type, id: principal.actor.id, label: principal.actor.label };
}

/** Everything a route needs to append a ledger event on behalf of the caller. */
export function auditFrom(req: Request, res: Response): { organizationId: string; actor: AuditActor } & AuditContext {
  const principal = principalOf(res);
  return { organizationId: principal.organizationId, actor: actorOf(principal), ...auditContext(req, res) };
}
