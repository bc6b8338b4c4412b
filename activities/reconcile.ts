import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Db } from '../src/db/knex';
import { addCounts, emptyCounts, reconcilePage, recordCounts } from '../src/reconciler/reconcile';
import type { ReconcileCounts, ReconcileCursor, ReconcileStep } from '../workflows/definitions';

export interface ReconcileStepInput {
  step: ReconcileStep;
  after: ReconcileCursor | null;
  pageSize: number;
  concurrency: number;
  organizationIds?: string[];
  pendingGraceSeconds: number;
  deliveryGraceSeconds: number;
  /** Work for about this long, then hand the position back to the workflow. */
  budgetMs: number;
}

export interface ReconcileStepResult {
  counts: ReconcileCounts;
  /** null: the step is done. */
  next: ReconcileCursor | null;
}

// The reconcile workflow's activity (workflows/reconcile.ts): pages through one step's records
// for up to `budgetMs`, heartbeating its position, so a retry resumes at the last page. Every
// repair it makes is idempotent, so re-running a page is harmless.
export function createReconcileActivities(deps: {
  db: Db;
  temporal: Client;
  config: { AUDIT_HMAC_KEY: string; WEBHOOK_RETRY_DELAYS_SECONDS: number[] };
}) {
  return {
    async reconcileStep(input: ReconcileStepInput): Promise<ReconcileStepResult> {
      const ctx = Context.current();
      let after = (ctx.info.heartbeatDetails as { after: ReconcileCursor | null } | undefined)?.after ?? input.after;
      const counts = emptyCounts();
      const until = Date.now() + input.budgetMs;
      const pageDeps = {
        db: deps.db,
        temporal: deps.temporal,
        taskQueue: ctx.info.taskQueue,
        auditKey: deps.config.AUDIT_HMAC_KEY,
        retryDelaysSeconds: deps.config.WEBHOOK_RETRY_DELAYS_SECONDS,
      };
      for (;;) {
        const page = await reconcilePage(pageDeps, {
          step: input.step,
          after,
          limit: input.pageSize,
          concurrency: input.concurrency,
          organizationIds: input.organizationIds,
          pendingGraceSeconds: input.pendingGraceSeconds,
          deliveryGraceSeconds: input.deliveryGraceSeconds,
        });
        await recordCounts(deps.db, page.counts);
        addCounts(counts, page.counts);
        after = page.next;
        ctx.heartbeat({ after });
        if (after === null || Date.now() >= until) return { counts, next: after };
      }
    },
  };
}
