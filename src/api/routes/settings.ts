import { Router } from 'express';
import type { AppDeps } from '../app';
import { ANY_OPERATOR, principalOf, requireAuth } from '../auth';
import { problems } from '../problem';
import { settingsPatchSchema } from '../schemas';
import { parseOrThrow } from '../validate';
import { checkWebhookUrl } from '../../webhooks/safeLookup';
import { currentWebhookSecret, getSettings, updateSettings } from '../../settings/settings';

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
    const { after } = await updateSettings(deps.db, principalOf(res).organizationId, patch);
    res.json(after);
  });

  r.get('/v1/settings/webhook-secret', admin, async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json({ secret: await currentWebhookSecret(deps.db, principalOf(res).organizationId) });
  });

  return r;
}
