import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../src/payloads/dataConverter';
import { DataKeyStore, MasterKeys } from '../../src/payloads/keyStore';
import { createWorker, workflowBundle } from '../../src/temporal/worker';
import type { Db } from '../../src/db/knex';
import { SessionDeps } from '../../src/sessions/sessions';
import { updateSettings } from '../../src/settings/settings';
import { OrganizationId } from '../../src/temporal/searchAttributes';
import {
  analysisStateQuery,
  analysisWorkflowId,
  retentionChangedSignal,
  sessionWorkflowId,
  stateQuery,
  type JourneySessionState,
  type RetentionChange,
  type StandaloneAnalysisInput,
} from '../../workflows/definitions';
import { addOperator, newOrganization, waitUntil } from '../support/system';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { startTimeSkippingSystem, type TimeSkippingSystem } from '../support/timeSkipping';

// Issue 12, the Temporal door: a `retentionChanged` signal without a revision (typed in the
// Temporal UI/CLI) moves the purge only when it names an active admin of the organization.
// Refused or accepted, the ledger records it (via temporal). Time-skipping server, real
// activities and PostgreSQL.
const DAY_MS = 24 * 60 * 60_000;

let sys: TimeSkippingSystem;
let env: TestWorkflowEnvironment;
let db: Db;
let deps: SessionDeps;

beforeAll(async () => {
  sys = await startTimeSkippingSystem();
  ({ env, db } = sys);
  deps = sessionDeps(db, env.client, sys.config.TEMPORAL_TASK_QUEUE);
});

afterAll(async () => {
  await sys?.stop();
});

const iso = (ms: number) => new Date(ms).toISOString();

/** The retention.change events of one workflow subject, oldest first, once there are `count`. */
function retentionEvents(resourceId: string, count: number) {
  return waitUntil(
    () => db('audit_events').where({ resource_id: resourceId, action: 'retention.change' }).orderBy('append_order'),
    (rows) => rows.length >= count,
    120_000,
  );
}

test('session: a signal without revision is refused without an operator or with an analyst, accepted with an active admin', async () => {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, { dataRetention: '30d' });
  const analyst = await addOperator(db, org.organizationId, 'analyst');
  const admin = await addOperator(db, org.organizationId, 'admin');
  const disabledAdmin = await addOperator(db, org.organizationId, 'admin');
  await db('operators').where({ id: disabledAdmin.id }).update({ disabled_at: new Date() });
  const otherOrgAdmin = await addOperator(db, (await newOrganization(db)).organizationId, 'admin');

  const createdAtMs = await env.currentTimeMs();
  const session = await createSessionAt(
    deps,
    org.organizationId,
    { correlationId: `CRM-${randomUUID()}`, journeyId: 'onboarding', userInput: { firstName: 'Ada', lastName: 'Lovelace', birthDate: '1815-12-10' } },
    new Date(createdAtMs),
  );
  const handle = env.client.workflow.getHandle<() => Promise<JourneySessionState>>(sessionWorkflowId(session.id));
  const thirtyDays = iso(createdAtMs + 30 * DAY_MS);
  expect((await handle.query(stateQuery)).purgeAt).toBe(thirtyDays);

  // Stopping the purge for ever, as anyone reaching the Temporal UI could.
  await handle.signal(retentionChangedSignal, { dataRetention: null });
  await handle.signal(retentionChangedSignal, { dataRetention: null, operatorId: analyst.id } as RetentionChange);
  await handle.signal(retentionChangedSignal, { dataRetention: null, operatorId: disabledAdmin.id } as RetentionChange);
  await handle.signal(retentionChangedSignal, { dataRetention: null, operatorId: otherOrgAdmin.id } as RetentionChange);
  const refused = await retentionEvents(session.id, 4);
  expect(refused.map((e) => [e.outcome, e.actor_type, e.actor_id])).toEqual([
    ['failure', 'system', 'temporal-message'],
    ['failure', 'operator', analyst.id],
    ['failure', 'operator', disabledAdmin.id],
    ['failure', 'operator', otherOrgAdmin.id],
  ]);
  for (const e of refused) expect(e.changes).toMatchObject({ via: 'temporal', signal: 'retentionChanged', reason: expect.any(String), dataRetention: { after: null }, purgeAt: { before: thirtyDays, after: null } });
  expect(refused[0].changes.reason).toBe('operator_missing');
  expect(refused[1].changes.reason).toBe('operator_not_allowed');
  // The purge instant stays where it was, in the workflow and in PostgreSQL.
  expect((await handle.query(stateQuery)).purgeAt).toBe(thirtyDays);
  expect((await db('sessions').where({ id: session.id }).first()).purge_at.toISOString()).toBe(thirtyDays);

  // An active admin of the organization: accepted, the workflow writes purge_at itself.
  await handle.signal(retentionChangedSignal, { dataRetention: '40d', operatorId: admin.id } as RetentionChange);
  const all = await retentionEvents(session.id, 5);
  expect(all[4]).toMatchObject({ outcome: 'success', actor_type: 'operator', actor_id: admin.id, resource_type: 'session', resource_id: session.id });
  const fortyDays = iso(createdAtMs + 40 * DAY_MS);
  expect(all[4].changes).toEqual({ via: 'temporal', signal: 'retentionChanged', dataRetention: { after: '40d' }, purgeAt: { before: thirtyDays, after: fortyDays } });
  await waitUntil(() => handle.query(stateQuery), (s) => s.purgeAt === fortyDays, 120_000);
  await waitUntil(() => db('sessions').where({ id: session.id }).first(), (r) => r.purge_at?.toISOString() === fortyDays, 120_000);

  // Malformed (operatorId not a UUID): refused in the handler and recorded, no check activity.
  await handle.signal(retentionChangedSignal, { dataRetention: null, operatorId: 'admin' } as never);
  // A zero-padded duration the check refuses as input (not retried): not applied, and the loop
  // goes on to the next signal, an admin's, which applies.
  await handle.signal(retentionChangedSignal, { dataRetention: '0000000000000000000050d', operatorId: admin.id });
  await handle.signal(retentionChangedSignal, { dataRetention: '45d', operatorId: admin.id });
  const later = await retentionEvents(session.id, 7);
  expect(later.slice(5).map((e) => [e.outcome, e.actor_id])).toEqual([
    ['failure', 'temporal-message'],
    ['success', admin.id],
  ]);
  expect(later[5].changes).toMatchObject({ reason: 'invalid_input', issues: [{ path: 'operatorId' }] });
  expect(later[6].changes).toMatchObject({ dataRetention: { after: '45d' }, purgeAt: { before: fortyDays } });
  const history = await handle.fetchHistory();
  const checks = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'authorizeRetentionSignal');
  const failedChecks = history.events!.filter((e) => e.activityTaskFailedEventAttributes);
  expect(checks).toHaveLength(7);
  expect(failedChecks).toHaveLength(1);
  await waitUntil(() => handle.query(stateQuery), (s) => s.purgeAt === iso(createdAtMs + 45 * DAY_MS), 120_000);

  // The history, patch marker and check activities included, replays against this code.
  const failures: string[] = [];
  const converter = dataConverter(new DataKeyStore(db, MasterKeys.fromConfig(sys.config)));
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), dataConverter: converter }, [{ workflowId: 'sec3-retention-signal-admin', history: await handle.fetchHistory() }])) {
    if (result.error) failures.push(result.error.message);
  }
  expect(failures).toEqual([]);
  const patchIds = history.events!
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .flatMap((e) => Object.values(e.markerRecordedEventAttributes!.details ?? {}).flatMap((p) => (p.payloads ?? []).map((x) => Buffer.from(x.data ?? []).toString())));
  expect(patchIds.some((d) => d.includes('sec3-retention-signal-admin'))).toBe(true);
});

test('standalone analysis: refused without an operator, accepted with an admin', async () => {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, { dataRetention: '30d' });
  const admin = await addOperator(db, org.organizationId, 'admin');
  const createdAtMs = await env.currentTimeMs();
  const entityId = randomUUID();
  const analysisId = randomUUID();
  await db('entities').insert({ id: entityId, organization_id: org.organizationId, type: 'company', personal_data: JSON.stringify({ name: 'Analytical Engines Ltd' }), created_at: new Date(createdAtMs) });
  await db('analyses').insert({ id: analysisId, organization_id: org.organizationId, entity_id: entityId, kind: 'kyb', status: 'verify', result: JSON.stringify({}), created_at: new Date(createdAtMs) });
  const input: StandaloneAnalysisInput = { analysisId, organizationId: org.organizationId, createdAt: iso(createdAtMs), dataRetention: '30d', retentionRevision: 1 };
  const handle = await env.client.workflow.start('standaloneAnalysis', {
    workflowId: analysisWorkflowId(analysisId),
    taskQueue: sys.config.TEMPORAL_TASK_QUEUE,
    args: [input],
    typedSearchAttributes: [{ key: OrganizationId, value: org.organizationId }],
  });
  const thirtyDays = iso(createdAtMs + 30 * DAY_MS);

  await handle.signal(retentionChangedSignal, { dataRetention: null });
  const [refused] = await retentionEvents(analysisId, 1);
  expect(refused).toMatchObject({ outcome: 'failure', actor_type: 'system', resource_type: 'analysis', resource_id: analysisId });
  expect((await handle.query(analysisStateQuery)).purgeAt).toBe(thirtyDays);

  await handle.signal(retentionChangedSignal, { dataRetention: null, operatorId: admin.id } as RetentionChange);
  const events = await retentionEvents(analysisId, 2);
  expect(events[1]).toMatchObject({ outcome: 'success', actor_type: 'operator', actor_id: admin.id });
  await waitUntil(() => handle.query(analysisStateQuery), (s) => s.purgeAt === null, 120_000);
  await waitUntil(() => db('analyses').where({ id: analysisId }).first(), (r) => r.purge_at === null, 120_000);
});

test('a cancel request while the check runs: the workflow purges, the change is dropped', async () => {
  const org = await newOrganization(db);
  const admin = await addOperator(db, org.organizationId, 'admin');
  const createdAtMs = await env.currentTimeMs();
  const entityId = randomUUID();
  const analysisId = randomUUID();
  await db('entities').insert({ id: entityId, organization_id: org.organizationId, type: 'company', personal_data: JSON.stringify({ name: 'Difference Engines Ltd' }), created_at: new Date(createdAtMs) });
  await db('analyses').insert({ id: analysisId, organization_id: org.organizationId, entity_id: entityId, kind: 'kyb', status: 'verify', result: JSON.stringify({}), created_at: new Date(createdAtMs) });
  // A worker of its own whose check activity waits at a gate: the cancel request reaches the
  // workflow while the check is in flight.
  let checkStarted!: () => void;
  const started = new Promise<void>((resolve) => (checkStarted = resolve));
  let releaseCheck!: () => void;
  const gate = new Promise<void>((resolve) => (releaseCheck = resolve));
  const taskQueue = `sec3-cancel-${randomUUID()}`;
  const { worker } = await createWorker({
    config: sys.config,
    db,
    keys: sys.keys,
    connection: env.nativeConnection,
    client: env.client,
    taskQueue,
    wrapActivities: (acts) => ({
      ...acts,
      authorizeRetentionSignal: async (input) => {
        checkStarted();
        await gate;
        return acts.authorizeRetentionSignal(input);
      },
    }),
  });
  const running = worker.run();
  try {
    const input: StandaloneAnalysisInput = { analysisId, organizationId: org.organizationId, createdAt: iso(createdAtMs), dataRetention: '30d', retentionRevision: 0 };
    const handle = await env.client.workflow.start('standaloneAnalysis', {
      workflowId: analysisWorkflowId(analysisId),
      taskQueue,
      args: [input],
      typedSearchAttributes: [{ key: OrganizationId, value: org.organizationId }],
    });
    await handle.signal(retentionChangedSignal, { dataRetention: null, operatorId: admin.id });
    await started;
    await handle.cancel();
    await waitUntil(() => handle.describe(), (d) => d.status.name === 'COMPLETED', 120_000);
    expect(await db('analyses').where({ id: analysisId }).first()).toMatchObject({ status: 'purged', purged_at: expect.any(Date) });
    const [purge] = await db('audit_events').where({ resource_id: analysisId, action: 'analysis.purge' });
    expect(purge).toMatchObject({ actor_type: 'system', actor_id: 'cancellation' });
    const history = await handle.fetchHistory();
    expect(history.events!.some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(true);
  } finally {
    releaseCheck();
    worker.shutdown();
    await running;
  }
});
