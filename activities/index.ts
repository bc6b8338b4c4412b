import type { Db } from '../src/db/knex';
import { createDecisionActivities } from './decisions';
import { createRearmActivities } from './rearm';
import { createReconcileActivities } from './reconcile';
import { createRetentionActivities } from './retention';
import { createSessionActivities } from './sessions';
import { createWebhookActivities, WebhookDeps } from './webhooks';

export type ActivityDeps = WebhookDeps & { db: Db; config: WebhookDeps['config'] & { AUDIT_HMAC_KEY: string } };

/** Every activity the worker registers, built from its dependencies so tests can inject them. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSessionActivities(deps),
    ...createWebhookActivities(deps),
    ...createDecisionActivities(deps),
    ...createRetentionActivities(deps),
    ...createRearmActivities(deps),
    ...createReconcileActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
