import { Router } from 'express';
import type { AppDeps } from '../app';
import { appendAuditEvent } from '../../audit/ledger';
import { ANY_OPERATOR, principalOf, requireAuth } from '../auth';
import { problems } from '../problem';
import { auditFrom } from '../auditContext';
import { retentionPreviewQuery, settingsPatchSchema } from '../schemas';
import { parseOrThrow } from '../validate';
import { checkWebhookUrl } from '../../webhooks/safeLookup';
import { changeSettings } from '../../settings/changeSettings';
import { retentionPreview } from '../../settings/retention';
import { currentWebhookSecret, getSettings } from '../../settings/settings';

export function settingsRoutes(deps: AppDeps): Router {
  const r = Router();
  const admin = requireAuth(deps.db, { roles: ['admin'] });

  r.get('/v1/settings', requireAuth(deps.db, { roles: ANY_OPERATOR }), async (_req, res) => {
    res.json(await getSettings(deps.db, principalOf(res).organizationId));
  });

  r.patch('/v1/settings', admin, async (req, res) => {
    const patch = parseOrThrow(settingsPatchSchema(deps.config.DATA_RETENTION_MIN, deps.config.LINK_EXPIRY_MIN), req.body);
    // Destination safety needs DNS, so it is checked after the syntax, before anything is saved.
    const errors = [];
    for (const field of ['sessionEndWebhookUrl', 'decisionWebhookUrl'] as const) {
      const url = patch[field];
      if (typeof url !== 'string') continue;
      const checked = await checkWebhookUrl(url, deps.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS);
      if (!checked.ok) errors.push({ path: field, message: checked.message });
    }
    if (errors.length) throw problems.validation(errors, `invalid field(s): ${errors.map((e) => e.path).join(', ')}`);
    const { settings } = await changeSettings(
      { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, auditKey: deps.config.AUDIT_HMAC_KEY },
      auditFrom(req, res),
      patch,
    );
    res.json(settings);
  });

  // What a new dataRetention would purge, before saving it (docs/settings.md).
  r.get('/v1/settings/retention-preview', requireAuth(deps.db, { roles: ANY_OPERATOR }), async (req, res) => {
    const q = parseOrThrow(retentionPreviewQuery(deps.config.DATA_RETENTION_MIN), req.query, 'query');
    res.json(await retentionPreview(deps.db, principalOf(res).organizationId, q.dataRetention, q.days));
  });

  // Revealing the signing secret is an access worth a ledger line (the secret itself is not in it).
  r.get('/v1/settings/webhook-secret', admin, async (req, res) => {
    const caller = auditFrom(req, res);
    const secret = await currentWebhookSecret(deps.db, deps.keys.master, caller.organizationId);
    await appendAuditEvent(deps.db, deps.config.AUDIT_HMAC_KEY, {
      ...caller,
      action: 'webhook_secret.read',
      category: 'access',
      resource: { type: 'webhook_secret', id: caller.organizationId },
    });
    res.set('Cache-Control', 'no-store');
    res.json({ secret });
  });

  return r;
}
