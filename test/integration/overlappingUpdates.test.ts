import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { createWorker, workflowBundle } from '../../src/temporal/worker';
import { completeJourneyUpdate, openLinkUpdate, sessionWorkflowId } from '../../workflows/definitions';
import { PATCHES } from '../../workflows/lifecycle';
import { decodeHistoryInPlace } from '../support/history';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { newOrganization, startSystem, TestSystem } from '../support/system';

// Benchmark run 15 (docs/performance.md): a session whose first workflow task timed out got
// its link opening and its completion in the same task. Both handlers awaited their local
// activity at once; the opening's finished first, in its own activation, the completion's
// later in another. Replayed (any eviction, any later task timeout), both markers resolve in
// one activation, the completion's search-attribute upsert comes before the opening's
// completion event, and the task fails with a nondeterminism error, on every attempt: the
// session is stuck and every update to it answers 503. Here the two updates are admitted
// before any worker polls the session's queue, so the first task carries both, and the
// completion's activity is slowed so that the two finish in different activations.
const EventType = temporal.api.enums.v1.EventType;
let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

test('an opening and a completion delivered in one workflow task replay without a nondeterminism error', async () => {
  const org = await newOrganization(sys.db);
  // A queue no worker polls yet: the session's first task waits, and the updates with it.
  const taskQueue = `overlap-${randomUUID()}`;
  const session = await createSessionAt(sessionDeps(sys.db, sys.client, taskQueue), org.organizationId);
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(session.id));
  const opening = handle.executeUpdate(openLinkUpdate);
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // admitted first
  const completing = handle.executeUpdate(completeJourneyUpdate);
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  const { worker, connection } = await createWorker({
    config: sys.config,
    db: sys.db,
    keys: sys.keys,
    client: sys.client,
    taskQueue,
    wrapActivities: (a) => ({
      ...a,
      completeSession: async (args) => {
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        return a.completeSession(args);
      },
    }),
  });
  try {
    const [opened, completed] = await worker.runUntil(Promise.all([opening, completing]));
    expect(opened.status).toBe('in_progress');
    expect(completed.verdict).toBeDefined();
  } finally {
    await connection.close();
  }

  const history = await handle.fetchHistory();
  const types = history.events!.map((e) => e.eventType);
  // Both updates were accepted in the first completed task, before either completed.
  const firstCompletedTask = types.indexOf(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  const accepted = types.flatMap((t, i) => (t === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED ? [i] : []));
  expect(accepted).toHaveLength(2);
  expect(accepted.every((i) => i > firstCompletedTask && i < types.indexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED))).toBe(true);

  const patches = history.events!.flatMap((e) => e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map((p) => Buffer.from(p.data!).toString());

  // What the worker does after an eviction: replay the whole history.
  await decodeHistoryInPlace(history, sys.keys);
  // CAPTURE_HISTORIES=1: kept as a fixture (test/workflows/replay.test.ts replays every one).
  const fixture = path.join(__dirname, '..', 'fixtures', 'histories', 'rel-fix-one-local-activity-open-complete.bin');
  if (process.env.CAPTURE_HISTORIES === '1' && !fs.existsSync(fixture)) fs.writeFileSync(fixture, temporal.api.history.v1.History.encode(history).finish(), { flag: 'wx' });
  await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, sessionWorkflowId(session.id))).resolves.toBeUndefined();
  // The completion waited for the opening's local activity (the patch, taken because it waited).
  expect(patches.join()).toContain(PATCHES.oneLocalActivity);
});
