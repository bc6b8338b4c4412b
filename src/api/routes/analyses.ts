import { Router } from 'express';
import { createStandaloneAnalysis, decideAnalysis, getAnalysisView, listAnalyses, resumeAnalysisCreation } from '../../analyses/analyses';
import type { AppDeps } from '../app';
import { auditFrom } from '../auditContext';
import { ANY_OPERATOR, principalOf, requireAuth } from '../auth';
import { replyIdempotent, withIdempotency } from '../idempotency';
import { createStandaloneAnalysisSchema, decisionSchema, idParam, listAnalysesQuery } from '../schemas';
import { parseOrThrow } from '../validate';

export function analysisRoutes(deps: AppDeps): Router {
  const r = Router();

  r.post('/v1/analyses', requireAuth(deps.db, { apiKey: true }), async (req, res) => {
    const caller = auditFrom(req, res);
    const result = await withIdempotency(
      deps.db,
      { organizationId: caller.organizationId, route: 'POST /v1/analyses', key: req.get('idempotency-key'), body: req.body },
      async (checkpoint) => {
        const body = parseOrThrow(createStandaloneAnalysisSchema, req.body);
        return { status: 201, body: await createStandaloneAnalysis(deps.analyses, caller, body, new Date(), { checkpoint }) };
      },
      { resume: (saved) => resumeAnalysisCreation(deps.analyses, caller.organizationId, saved) },
    );
    replyIdempotent(res, result);
  });

  r.get('/v1/analyses', requireAuth(deps.db, { apiKey: true, roles: ANY_OPERATOR }), async (req, res) => {
    const q = parseOrThrow(listAnalysesQuery, req.query, 'query');
    res.json(await listAnalyses(deps.db, principalOf(res).organizationId, q));
  });

  r.get('/v1/analyses/:id', requireAuth(deps.db, { apiKey: true, roles: ANY_OPERATOR }), async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    res.json(await getAnalysisView(deps.db, principalOf(res).organizationId, id));
  });

  r.post('/v1/analyses/:id/decision', requireAuth(deps.db, { roles: ['admin', 'analyst'] }), async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    const caller = auditFrom(req, res);
    const key = req.get('idempotency-key');
    // The analysis is part of the request: one key used for two analyses is refused (422).
    const result = await withIdempotency(
      deps.db,
      { organizationId: caller.organizationId, route: 'POST /v1/analyses/:id/decision', key, body: { analysisId: id, body: req.body } },
      async () => {
        const body = parseOrThrow(decisionSchema, req.body);
        const { changed: _changed, ...decision } = await decideAnalysis(deps.analyses, caller, id, body, { idempotencyKey: key });
        return { status: 200, body: decision };
      },
    );
    replyIdempotent(res, result);
  });

  return r;
}
