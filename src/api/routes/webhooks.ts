import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../app';
import { auditFrom } from '../auditContext';
import { limitPerOrganization, principalOf, requireAuth } from '../auth';
import { replyIdempotent, withIdempotency } from '../idempotency';
import { problems } from '../problem';
import { idParam, paginationQuery } from '../schemas';
import { parseOrThrow } from '../validate';
import { getDeliveryView, listDeliveries } from '../../webhooks/deliveries';
import { redeliverWebhook, sendTestWebhook, type OperatorAction } from '../../webhooks/operations';
import { endWebhookSecretGrace, rotateWebhookSecret } from '../../webhooks/secretRotation';
import { openWebhookSecret } from '../../settings/settings';

// The webhook delivery log, redelivery, test sends and secret rotation (SPEC §4, §5).

export const listDeliveriesQuery = paginationQuery
  .extend({
    event: z.enum(['session_end', 'decision', 'test', 'audit_checkpoint']).optional(),
    status: z.enum(['pending', 'succeeded', 'failed', 'skipped']).optional(),
    sessionId: z.uuid({ message: 'must be a UUID' }).optional(),
  })
  .strict();

export const testWebhookBody = z.object({ endpoint: z.enum(['session_end', 'decision']) }).strict();

/** These POSTs take no fields; anything sent is a client mistake worth a 400. */
export const noBody = z.object({}).strict().optional();

function operatorAction(req: Request, res: Response): OperatorAction {
  const { organizationId, actor, ...context } = auditFrom(req, res);
  return { organizationId, actor, context };
}

export function webhookRoutes(deps: AppDeps): Router {
  const r = Router();
  const admin = requireAuth(deps.db, { roles: ['admin'] });
  const readers = requireAuth(deps.db, { roles: ['admin', 'auditor'] });

  r.get('/v1/webhook-deliveries', readers, async (req, res) => {
    const q = parseOrThrow(listDeliveriesQuery, req.query, 'query');
    res.json(await listDeliveries(deps.db, principalOf(res).organizationId, q));
  });

  r.get('/v1/webhook-deliveries/:id', readers, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    const view = await getDeliveryView(deps.db, principalOf(res).organizationId, id);
    if (!view) throw problems.notFound('webhook delivery');
    res.json(view);
  });

  r.post('/v1/webhook-deliveries/:id/redeliver', admin, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    const action = operatorAction(req, res);
    const result = await withIdempotency(
      deps.db,
      { organizationId: action.organizationId, route: 'POST /v1/webhook-deliveries/:id/redeliver', key: req.get('idempotency-key'), body: { id, body: req.body ?? null } },
      async () => {
        parseOrThrow(noBody, req.body);
        const view = await redeliverWebhook(
          {
            db: deps.db,
            temporal: deps.temporal,
            taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
            retryDelaysSeconds: deps.config.WEBHOOK_RETRY_DELAYS_SECONDS,
            hmacKey: deps.config.AUDIT_HMAC_KEY,
          },
          action,
          id,
        );
        return { status: 202, body: view };
      },
    );
    replyIdempotent(res, result);
  });

  r.post('/v1/settings/webhook-secret/rotate', admin, async (req, res) => {
    const action = operatorAction(req, res);
    const result = await withIdempotency(
      deps.db,
      { organizationId: action.organizationId, route: 'POST /v1/settings/webhook-secret/rotate', key: req.get('idempotency-key'), body: req.body ?? null },
      async () => {
        parseOrThrow(noBody, req.body);
        const { secret: _secret, ...rotated } = await rotateWebhookSecret(deps.db, deps.keys.master, deps.config.AUDIT_HMAC_KEY, action);
        // Remembered for Idempotency-Key replays without the secret itself; added back below.
        return { status: 200, body: rotated };
      },
    );
    const rotated = result.body as { id: string; createdAt: string; previousSecretExpiresAt: string | null };
    const row = await deps.db('webhook_secrets').where({ id: rotated.id, organization_id: action.organizationId }).first('id', 'secret_ciphertext', 'master_key_id');
    res.set('Cache-Control', 'no-store');
    replyIdempotent(res, result, { secret: openWebhookSecret(deps.keys.master, row), createdAt: rotated.createdAt, previousSecretExpiresAt: rotated.previousSecretExpiresAt });
  });

  // Ends the 24 h overlap now: the rotated-out secrets are deleted and stop signing.
  r.post('/v1/settings/webhook-secret/end-grace', admin, async (req, res) => {
    const action = operatorAction(req, res);
    const result = await withIdempotency(
      deps.db,
      { organizationId: action.organizationId, route: 'POST /v1/settings/webhook-secret/end-grace', key: req.get('idempotency-key'), body: req.body ?? null },
      async () => {
        parseOrThrow(noBody, req.body);
        return { status: 200, body: await endWebhookSecretGrace(deps.db, deps.config.AUDIT_HMAC_KEY, action) };
      },
    );
    replyIdempotent(res, result);
  });

  r.post('/v1/settings/webhooks/test', admin, limitPerOrganization('webhook_test'), async (req, res) => {
    const action = operatorAction(req, res);
    const result = await withIdempotency(
      deps.db,
      { organizationId: action.organizationId, route: 'POST /v1/settings/webhooks/test', key: req.get('idempotency-key'), body: req.body },
      async () => {
        const { endpoint } = parseOrThrow(testWebhookBody, req.body);
        const sent = await sendTestWebhook(
          {
            db: deps.db,
            master: deps.keys.master,
            hmacKey: deps.config.AUDIT_HMAC_KEY,
            timeoutMs: deps.config.WEBHOOK_TIMEOUT_MS,
            allowPrivateNetworks: deps.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
          },
          action,
          endpoint,
        );
        return { status: 200, body: sent };
      },
    );
    replyIdempotent(res, result);
  });

  return r;
}
