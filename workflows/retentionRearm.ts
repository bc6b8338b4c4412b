import { continueAsNew, proxyActivities, setCurrentDetails, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RearmCursor, RearmKind, RetentionRearmInput, RetentionRearmResult } from './definitions';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export const REARM_PAGE_SIZE = 500;
export const REARM_CONCURRENCY = 50;
/** Pages per run before continuing as new: keeps each run's history short at any scale. */
const PAGES_PER_RUN = 40;
/** How long to wait for the revision's transaction to commit before giving up (seconds). */
const PENDING_LIMIT = 60;

/**
 * `retention-<organizationId>-r<revision>`: after a change of the organization's dataRetention,
 * signals `retentionChanged` to the workflow of every session, then every standalone analysis,
 * that retention has not purged yet, a page at a time in PostgreSQL order (created_at, id).
 * Ends early when a newer change supersedes it: that change's re-arm covers every record.
 */
export async function retentionRearm(input: RetentionRearmInput): Promise<RetentionRearmResult> {
  let kind: RearmKind = input.resume?.kind ?? 'session';
  let after: RearmCursor | null = input.resume?.after ?? null;
  let signalled = input.resume?.signalled ?? 0;
  let missing = input.resume?.missing ?? 0;
  let dataRetention: string | null = null;
  const result = (outcome: RetentionRearmResult['outcome']): RetentionRearmResult => ({
    organizationId: input.organizationId,
    revision: input.revision,
    outcome,
    dataRetention,
    signalled,
    missing,
  });

  let waited = 0;
  for (let pages = 0; ; ) {
    const page = await acts.rearmRetentionPage({
      organizationId: input.organizationId,
      revision: input.revision,
      kind,
      after,
      limit: input.pageSize ?? REARM_PAGE_SIZE,
      concurrency: input.concurrency ?? REARM_CONCURRENCY,
    });
    if (page.outcome === 'superseded') return result('superseded');
    if (page.outcome === 'pending') {
      if (++waited > PENDING_LIMIT) return result('abandoned');
      await sleep('1 second');
      continue;
    }
    dataRetention = page.dataRetention;
    signalled += page.signalled;
    missing += page.missing;
    setCurrentDetails(`revision ${input.revision} → ${dataRetention ?? 'keep indefinitely'}  \n${signalled} workflows signalled, now at ${kind}s`);
    if (page.next) after = page.next;
    else if (kind === 'session') [kind, after] = ['analysis', null];
    else return result('done');
    if (++pages >= PAGES_PER_RUN) {
      await continueAsNew<typeof retentionRearm>({ ...input, resume: { kind, after, signalled, missing } });
    }
  }
}
