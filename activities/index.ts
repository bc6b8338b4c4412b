import type { Db } from '../src/db/knex';
import { createSessionActivities } from './sessions';
import { createWebhookActivities, WebhookDeps } from './webhooks';

export type ActivityDeps = { db: Db } & WebhookDeps;

/** Every activity the worker registers, built from its dependencies so tests can inject them. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSessionActivities(deps),
    ...createWebhookActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
