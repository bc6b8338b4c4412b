import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { durationToMs } from '../domain/duration';
import { RECONCILER_SCHEDULE_ID, type ReconcileInput } from '../../workflows/definitions';

export interface ReconcilerScheduleOptions {
  taskQueue: string;
  /** Duration string (`5m`, `1m`): how often the reconcile workflow runs. */
  interval: string;
  scheduleId?: string;
  /** The reconcile workflow's input (tests scope it to their organizations). */
  input?: ReconcileInput;
}

/**
 * Creates the reconciler's Schedule, or brings an existing one to these options: safe to run
 * at every start (`npm start`, `npm run temporal:setup`). A run still going when the next is
 * due makes that one skip (overlap SKIP), so runs never pile up behind a slow one.
 */
export async function ensureReconcilerSchedule(client: Client, opts: ReconcilerScheduleOptions): Promise<'created' | 'updated'> {
  const scheduleId = opts.scheduleId ?? RECONCILER_SCHEDULE_ID;
  const spec = { intervals: [{ every: durationToMs(opts.interval) }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reconcile',
    workflowId: `reconcile-${scheduleId}`,
    taskQueue: opts.taskQueue,
    args: [opts.input ?? {}],
    staticSummary: 'Reconciler: purges overdue records, restarts lost workflows, resumes deliveries',
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      memo: { purpose: 'docs/reliability.md' },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    return 'updated';
  }
}
