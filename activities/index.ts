import type { Db } from '../src/db/knex';
import { classifyFailures } from './classify';
import type { DataKeyStore } from '../src/payloads/keyStore';
import { createDecisionActivities } from './decisions';
import { createRearmActivities } from './rearm';
import { createReconcileActivities } from './reconcile';
import { createRetentionActivities } from './retention';
import { createRetentionSignalActivities } from './retentionSignals';
import { createSessionActivities } from './sessions';
import { createWebhookActivities, WebhookDeps } from './webhooks';

export type ActivityDeps = WebhookDeps & {
  db: Db;
  /** The codec's key store: a purge makes this process forget the destroyed key at once. */
  keys?: DataKeyStore;
  config: WebhookDeps['config'] & { AUDIT_HMAC_KEY: string };
};

/**
 * Every activity the worker registers, built from its dependencies so tests can inject them.
 * Failures are classified: only transient faults are retried (activities/classify.ts).
 */
export function createActivities(deps: ActivityDeps) {
  return classifyFailures({
    ...createSessionActivities(deps),
    ...createWebhookActivities(deps),
    ...createDecisionActivities(deps),
    ...createRetentionActivities(deps),
    ...createRetentionSignalActivities(deps),
    ...createRearmActivities(deps),
    ...createReconcileActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
