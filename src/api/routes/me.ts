import { Router } from 'express';
import type { AppDeps } from '../app';
import { ANY_OPERATOR, principalOf, requireAuth } from '../auth';

// Who the caller is: the back office asks once at sign-in, to show only what the role may do.
export function meRoutes(deps: AppDeps): Router {
  const r = Router();
  r.get('/v1/me', requireAuth(deps.db, { roles: ANY_OPERATOR }), (_req, res) => {
    const { organizationId, actor } = principalOf(res);
    res.set('Cache-Control', 'no-store');
    res.json({ organizationId, operatorId: actor.id, email: actor.label, role: actor.role });
  });
  return r;
}
