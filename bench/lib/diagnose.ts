// What the load generator records when a journey step keeps answering 503: the session
// workflow as Temporal sees it at that moment (its pending workflow task, history, the task
// failures and timeouts in it) and the worker's task slots and sticky cache.
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { DataKeyStore } from '../../src/payloads/keyStore';
import { whyStuck } from '../../test/support/history';

const { EventType, PendingWorkflowTaskState, WorkflowTaskFailedCause, TimeoutType } = temporal.api.enums.v1;

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number | null =>
  t ? Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : null;
const ago = (t: Parameters<typeof ms>[0]): number | null => {
  const at = ms(t);
  return at === null ? null : Math.round(Date.now() - at);
};

/**
 * The session workflow at this moment: status, history length, its pending workflow task
 * (state, attempt, how long ago it was scheduled and started), the last events, every
 * workflow-task failure and timeout in the history (cause, how long after the task's
 * scheduling), the updates admitted/accepted/completed, and `whyStuck`'s decoded failures.
 */
export async function diagnoseWorkflow(client: Client, workflowId: string, keys: DataKeyStore) {
  try {
    const handle = client.workflow.getHandle(workflowId);
    const { raw } = await handle.describe();
    const info = raw.workflowExecutionInfo;
    const task = raw.pendingWorkflowTask;
    const events = (await handle.fetchHistory()).events ?? [];
    const type = (e: (typeof events)[number]) => EventType[e.eventType ?? 0]?.replace(/^EVENT_TYPE_/, '') ?? String(e.eventType);
    const count = (t: string) => events.filter((e) => type(e) === t).length;
    const taskTrouble = events
      .filter((e) => e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes)
      .slice(-10)
      .map((e) => ({
        eventId: String(e.eventId),
        type: type(e),
        secondsAgo: e.eventTime ? +((ago(e.eventTime) ?? 0) / 1000).toFixed(1) : null,
        cause: e.workflowTaskFailedEventAttributes
          ? WorkflowTaskFailedCause[e.workflowTaskFailedEventAttributes.cause ?? 0]
          : TimeoutType[e.workflowTaskTimedOutEventAttributes?.timeoutType ?? 0],
      }));
    return {
      workflowId,
      status: raw.workflowExecutionInfo?.status,
      historyLength: Number(info?.historyLength ?? events.length),
      pendingWorkflowTask: task
        ? {
            state: PendingWorkflowTaskState[task.state ?? 0],
            attempt: task.attempt,
            scheduledMsAgo: ago(task.scheduledTime),
            originalScheduledMsAgo: ago(task.originalScheduledTime),
            startedMsAgo: ago(task.startedTime),
          }
        : null,
      pendingActivities: (raw.pendingActivities ?? []).map((a) => ({ activity: a.activityType?.name, state: a.state, attempt: a.attempt, lastFailure: a.lastFailure?.message })),
      lastEvents: events.slice(-12).map((e) => `${e.eventId}:${type(e)}`),
      updates: {
        admitted: count('WORKFLOW_EXECUTION_UPDATE_ADMITTED'),
        accepted: count('WORKFLOW_EXECUTION_UPDATE_ACCEPTED'),
        completed: count('WORKFLOW_EXECUTION_UPDATE_COMPLETED'),
      },
      workflowTasks: {
        scheduled: count('WORKFLOW_TASK_SCHEDULED'),
        completed: count('WORKFLOW_TASK_COMPLETED'),
        failed: count('WORKFLOW_TASK_FAILED'),
        timedOut: count('WORKFLOW_TASK_TIMED_OUT'),
      },
      taskTrouble,
      stuck: await whyStuck(client, workflowId, keys),
    };
  } catch (err) {
    return { workflowId, error: (err as Error).message };
  }
}

/**
 * The worker's Prometheus figures that say whether it can take work: task slots used/available
 * per kind, pollers per queue kind, sticky cache size and evictions, and every failure,
 * timeout or cancellation counter it has exported so far.
 */
export async function workerTaskFigures(port: number): Promise<Record<string, number> | { error: string }> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const figures: Record<string, number> = {};
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const name = line.slice(0, line.search(/[{ ]/));
      if (!/slots|pollers|sticky_cache|failed|timed_out|cancelled|task_queue_poll_empty|_latency_(sum|count)$/.test(name)) continue;
      const label = /(worker_type|poller_type|failure_reason|activity_type|workflow_type)="([^"]*)"/g;
      const labels = [...line.matchAll(label)].map((m) => m[2]).join(',');
      const key = labels ? `${name}{${labels}}` : name;
      figures[key] = (figures[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return figures;
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * The task queue's workflow-task backlog as the server counts it (DescribeTaskQueue with
 * report_stats, all partitions): tasks waiting for a poller on the normal (non-sticky) queue,
 * the age of the oldest, and the add and dispatch rates. A session's first workflow task
 * waits here; an update to it (the link opening) cannot run before that task has.
 */
export async function workflowBacklog(client: Client, taskQueue: string) {
  try {
    const d = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, reportStats: true });
    const s = d.stats;
    return {
      count: Number(s?.approximateBacklogCount ?? 0),
      oldestSeconds: s?.approximateBacklogAge ? +(Number(s.approximateBacklogAge.seconds ?? 0) + (s.approximateBacklogAge.nanos ?? 0) / 1e9).toFixed(1) : 0,
      addedPerSecond: +(s?.tasksAddRate ?? 0).toFixed(1),
      dispatchedPerSecond: +(s?.tasksDispatchRate ?? 0).toFixed(1),
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
