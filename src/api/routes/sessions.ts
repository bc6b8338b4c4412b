import { Router } from 'express';
import type { AppDeps } from '../app';
import { auditFrom } from '../auditContext';
import { ANY_OPERATOR, principalOf, requireAuth } from '../auth';
import { replyIdempotent, withIdempotency } from '../idempotency';
import { createAnalysisSchema, createSessionSchema, idParam, listSessionsQuery } from '../schemas';
import { parseOrThrow } from '../validate';
import { recordResponseSealer } from '../../payloads/sealedResponse';
import { sessionScope } from '../../payloads/scopes';
import { eraseSession } from '../../sessions/erasure';
import { addSessionAnalysis, createSession, getSessionView, listSessions, resumeSessionCreation } from '../../sessions/sessions';

export function sessionRoutes(deps: AppDeps): Router {
  const r = Router();
  const readers = requireAuth(deps.db, { apiKey: true, roles: ANY_OPERATOR });

  r.post('/v1/sessions', requireAuth(deps.db, { apiKey: true, roles: ['admin'] }), async (req, res) => {
    const caller = auditFrom(req, res);
    const { organizationId } = caller;
    const result = await withIdempotency(
      deps.db,
      { organizationId, route: 'POST /v1/sessions', key: req.get('idempotency-key'), body: req.body },
      async (checkpoint) => {
        const body = parseOrThrow(createSessionSchema(deps.config.LINK_EXPIRY_MIN), req.body);
        return { status: 201, body: await createSession(deps.sessions, caller, body, new Date(), { checkpoint }) };
      },
      // A retry after a 503 whose session was recorded: the same session, started now.
      // The response holds the link token: stored sealed under the session's data key.
      { resume: (saved) => resumeSessionCreation(deps.sessions, organizationId, saved), sealer: recordResponseSealer(deps.keys, sessionScope) },
    );
    replyIdempotent(res, result);
  });

  r.get('/v1/sessions', readers, async (req, res) => {
    const q = parseOrThrow(listSessionsQuery, req.query, 'query');
    res.json(await listSessions(deps.db, principalOf(res).organizationId, q));
  });

  r.get('/v1/sessions/:id', readers, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    res.json(await getSessionView(deps.db, principalOf(res).organizationId, id));
  });

  // Right to erasure: purge now, recorded as this operator's deletion (docs/settings.md).
  r.delete('/v1/sessions/:id', requireAuth(deps.db, { roles: ['admin'] }), async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    const who = auditFrom(req, res);
    res.json(await eraseSession({ db: deps.db, temporal: deps.temporal, keys: deps.keys, auditKey: deps.config.AUDIT_HMAC_KEY }, who.organizationId, id, { ...who, operatorId: who.actor.id }));
  });

  r.post('/v1/sessions/:id/analyses', requireAuth(deps.db, { apiKey: true }), async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    const body = parseOrThrow(createAnalysisSchema, req.body);
    res.status(201).json(await addSessionAnalysis(deps.db, principalOf(res).organizationId, id, body));
  });

  return r;
}
