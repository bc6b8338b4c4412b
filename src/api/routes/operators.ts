import { Router, type Request, type Response } from 'express';
import { createApiKey, listApiKeys, revokeApiKey } from '../../orgs/apiKeys';
import { createOperator, getOperator, listOperators, rotateOperatorToken, updateOperator } from '../../orgs/operators';
import type { AppDeps } from '../app';
import { auditFrom } from '../auditContext';
import { principalOf, requireAuth } from '../auth';
import { replyIdempotent, withIdempotency } from '../idempotency';
import { createApiKeySchema, createOperatorSchema, listQuery, updateOperatorSchema } from '../ledgerSchemas';
import { idParam } from '../schemas';
import { parseOrThrow } from '../validate';

// Operators and API keys (SPEC §4), admins only. Each write appends its ledger event in the
// domain function's transaction.

export function operatorRoutes(deps: AppDeps): Router {
  const r = Router();
  const admin = requireAuth(deps.db, { roles: ['admin'] });
  const key = deps.config.AUDIT_HMAC_KEY;
  const policy = { tokenTtl: deps.config.OPERATOR_TOKEN_TTL };

  r.post('/v1/operators', admin, async (req, res) => {
    await createShownOnce(deps, req, res, 'POST /v1/operators', 'token', async () => {
      const body = parseOrThrow(createOperatorSchema, req.body);
      return createOperator(deps.db, key, auditFrom(req, res), body, policy);
    });
  });

  r.get('/v1/operators', admin, async (req, res) => {
    const q = parseOrThrow(listQuery, req.query, 'query');
    res.json(await listOperators(deps.db, principalOf(res).organizationId, q));
  });

  r.get('/v1/operators/:id', admin, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    res.json(await getOperator(deps.db, principalOf(res).organizationId, id));
  });

  r.patch('/v1/operators/:id', admin, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    const patch = parseOrThrow(updateOperatorSchema, req.body);
    const updated = await updateOperator(deps.db, key, auditFrom(req, res), id, patch, policy);
    if (updated.token) res.set('Cache-Control', 'no-store');
    res.json(updated);
  });

  // A new token for the operator, shown once; the previous one stops working at once.
  r.post('/v1/operators/:id/token', admin, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    res.set('Cache-Control', 'no-store');
    res.status(201).json(await rotateOperatorToken(deps.db, key, auditFrom(req, res), id, policy));
  });

  r.post('/v1/api-keys', admin, async (req, res) => {
    await createShownOnce(deps, req, res, 'POST /v1/api-keys', 'key', async () => {
      const body = parseOrThrow(createApiKeySchema, req.body);
      return createApiKey(deps.db, key, auditFrom(req, res), body);
    });
  });

  r.get('/v1/api-keys', admin, async (req, res) => {
    const q = parseOrThrow(listQuery, req.query, 'query');
    res.json(await listApiKeys(deps.db, principalOf(res).organizationId, q));
  });

  r.delete('/v1/api-keys/:id', admin, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    await revokeApiKey(deps.db, key, auditFrom(req, res), id);
    res.status(204).end();
  });

  return r;
}

/**
 * A creation whose response carries a secret shown once, with Idempotency-Key support. The
 * stored response (for replays) has the secret set to null: secrets are kept only as hashes,
 * so a replay returns the same resource without it.
 */
async function createShownOnce<T extends Record<string, unknown>>(
  deps: AppDeps,
  req: Request,
  res: Response,
  route: string,
  secretField: keyof T & string,
  create: () => Promise<T>,
): Promise<void> {
  let secret: unknown;
  const result = await withIdempotency(
    deps.db,
    { organizationId: principalOf(res).organizationId, route, key: req.get('idempotency-key'), body: req.body },
    async () => {
      const created = await create();
      secret = created[secretField];
      return { status: 201, body: { ...created, [secretField]: null } };
    },
  );
  res.set('Cache-Control', 'no-store');
  // A replay answers without the secret: it was shown once, and is not stored.
  replyIdempotent(res, result, result.replayed ? result.body : { ...(result.body as Record<string, unknown>), [secretField]: secret });
}
