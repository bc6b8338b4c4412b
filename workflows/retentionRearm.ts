import { continueAsNew, proxyActivities, setCurrentDetails, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RearmProgress, RetentionRearmInput, RetentionRearmResult } from './definitions';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export const REARM_PAGE_SIZE = 500;
export const REARM_CONCURRENCY = 50;
/** One activity works this long before reporting back (its progress is heartbeated meanwhile). */
const ACTIVITY_BUDGET_MS = 60_000;
/** Activities per run before continuing as new: keeps each run's history short at any scale. */
const CALLS_PER_RUN = 50;
/** How long to wait for the revision's transaction to commit before giving up (seconds). */
const PENDING_LIMIT = 60;

/**
 * `retention-<organizationId>-r<revision>`: after a change of the organization's dataRetention,
 * signals `retentionChanged` to the workflow of every session, then every standalone analysis,
 * that retention has not purged yet, a page at a time in PostgreSQL order (created_at, id).
 * Ends early when a newer change supersedes it: that change's re-arm covers every record.
 */
export async function retentionRearm(input: RetentionRearmInput): Promise<RetentionRearmResult> {
  let progress: RearmProgress = input.resume ?? { kind: 'session', after: null, signalled: 0, missing: 0 };
  let dataRetention: string | null = null;
  const result = (outcome: RetentionRearmResult['outcome']): RetentionRearmResult => ({
    organizationId: input.organizationId,
    revision: input.revision,
    outcome,
    dataRetention,
    signalled: progress.signalled,
    missing: progress.missing,
  });

  let waited = 0;
  for (let calls = 0; ; ) {
    const run = await acts.rearmRetention({
      organizationId: input.organizationId,
      revision: input.revision,
      from: progress,
      pageSize: input.pageSize ?? REARM_PAGE_SIZE,
      concurrency: input.concurrency ?? REARM_CONCURRENCY,
      budgetMs: ACTIVITY_BUDGET_MS,
    });
    if (run.outcome === 'superseded') return result('superseded');
    if (run.outcome === 'pending') {
      // The PATCH that started this run has not committed yet (or never will).
      if (++waited > PENDING_LIMIT) return result('abandoned');
      await sleep('1 second');
      continue;
    }
    progress = run.progress;
    dataRetention = run.dataRetention;
    setCurrentDetails(`revision ${input.revision} → ${dataRetention ?? 'keep indefinitely'}  \n${progress.signalled} workflows signalled`);
    if (run.outcome === 'done') return result('done');
    if (++calls >= CALLS_PER_RUN) await continueAsNew<typeof retentionRearm>({ ...input, resume: progress });
  }
}
