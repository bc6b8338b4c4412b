import { continueAsNew, proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { RECONCILE_STEPS, type ReconcileCounts, type ReconcileCursor, type ReconcileInput, type ReconcileResult } from './definitions';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export const RECONCILE_PAGE_SIZE = 200;
export const RECONCILE_CONCURRENCY = 20;
/** A `pending` record younger than this is a creation in flight. */
export const PENDING_GRACE_SECONDS = 120;
/** A pending delivery touched more recently than this is still being dispatched. */
export const DELIVERY_GRACE_SECONDS = 120;
const ACTIVITY_BUDGET_MS = 60_000;
/** Activities per run before continuing as new: each run's history stays short at any scale. */
const CALLS_PER_RUN = 100;

const zero = (): ReconcileCounts => ({ checked: 0, purged: 0, restarted: 0, started: 0, promoted: 0, rearmed: 0, resumed: 0 });

/**
 * The reconciler, run by the `kyc-reconciler` Schedule (docs/reliability.md). In order:
 *  (a) records past their purge time whose workflow is gone are purged;
 *  (b) open sessions and standalone analyses whose workflow is missing or closed are started
 *      again by id (a `pending` one for the first time), and running workflows whose purge
 *      time disagrees with their record are re-armed;
 *  (c) pending webhook deliveries with no running delivery workflow are resumed.
 */
export async function reconcile(input: ReconcileInput = {}): Promise<ReconcileResult> {
  const totals = input.resume?.totals ?? zero();
  let stepIndex = input.resume ? RECONCILE_STEPS.indexOf(input.resume.step) : 0;
  let after: ReconcileCursor | null = input.resume?.after ?? null;
  for (let calls = 0; stepIndex < RECONCILE_STEPS.length; ) {
    const step = RECONCILE_STEPS[stepIndex];
    const run = await acts.reconcileStep({
      step,
      after,
      pageSize: input.pageSize ?? RECONCILE_PAGE_SIZE,
      concurrency: input.concurrency ?? RECONCILE_CONCURRENCY,
      organizationIds: input.organizationIds,
      pendingGraceSeconds: input.pendingGraceSeconds ?? PENDING_GRACE_SECONDS,
      deliveryGraceSeconds: input.deliveryGraceSeconds ?? DELIVERY_GRACE_SECONDS,
      budgetMs: ACTIVITY_BUDGET_MS,
    });
    for (const k of Object.keys(totals) as (keyof ReconcileCounts)[]) totals[k] += run.counts[k];
    if (run.next === null) {
      stepIndex++;
      after = null;
    } else {
      after = run.next;
    }
    setCurrentDetails(
      `${stepIndex < RECONCILE_STEPS.length ? `at ${RECONCILE_STEPS[stepIndex]}` : 'done'}  \n` +
        `checked ${totals.checked}: purged ${totals.purged}, restarted ${totals.restarted}, started ${totals.started}, ` +
        `promoted ${totals.promoted}, re-armed ${totals.rearmed}, deliveries resumed ${totals.resumed}`,
    );
    if (++calls >= CALLS_PER_RUN && stepIndex < RECONCILE_STEPS.length) {
      await continueAsNew<typeof reconcile>({ ...input, resume: { step: RECONCILE_STEPS[stepIndex], after, totals } });
    }
  }
  return totals;
}
