import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Db } from '../../src/db/knex';
import { addSessionAnalysis, SessionDeps, uploadDocument } from '../../src/sessions/sessions';
import { reschedulePurges } from '../../src/settings/retention';
import { updateSettings } from '../../src/settings/settings';
import { OrganizationId } from '../../src/temporal/searchAttributes';
import {
  analysisStateQuery,
  analysisWorkflowId,
  retentionChangedSignal,
  sessionWorkflowId,
  stateQuery,
  type JourneySessionInput,
  type JourneySessionState,
  type StandaloneAnalysisInput,
} from '../../workflows/definitions';
import { whatScheduled } from '../support/history';
import { waitUntil as pollUntil } from '../support/system';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { addOperator, newOrganization } from '../support/system';
import { startTimeSkippingSystem, type TimeSkippingSystem } from '../support/timeSkipping';

// Retention timers on the time-skipping test server, with the real activities and PostgreSQL.
// Time only moves when a test sleeps (env.sleep): purges are awaited by polling the workflow's
// status, never through result(), which would let the server skip time past a late timer.
const MIN_MS = 60_000;
const DAY_MS = 24 * 60 * MIN_MS;
const SECOND = 1000;
// How far before a deadline a test checks that nothing happened yet. Well clear of it: the
// test server's clock also runs at real speed while the test reads, which on a loaded machine
// can take seconds. Exactness comes from the history (the timer was armed for the deadline).
const MARGIN = 10 * MIN_MS;

let sys: TimeSkippingSystem;
let env: TestWorkflowEnvironment;
let db: Db;
let deps: SessionDeps;
let taskQueue: string;

beforeAll(async () => {
  sys = await startTimeSkippingSystem();
  ({ env, db } = sys);
  taskQueue = sys.config.TEMPORAL_TASK_QUEUE;
  deps = sessionDeps(db, env.client, taskQueue);
});

afterAll(async () => {
  await sys?.stop();
});

/** A new organization whose retention is `dataRetention` (its first settings revision). */
async function orgWithRetention(dataRetention: string | null) {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, { dataRetention });
  return org;
}

/**
 * What a PATCH and its re-arm do for one workflow: the settings change and the rescheduled
 * purge_at in one transaction, then the signal of that revision.
 */
async function changeRetention(organizationId: string, workflowId: string, dataRetention: string | null) {
  const retentionRevision = await db.transaction(async (trx) => {
    const { retentionRevision: revision } = await updateSettings(trx, organizationId, { dataRetention });
    await reschedulePurges(trx, organizationId, dataRetention);
    return revision;
  });
  await env.client.workflow.getHandle(workflowId).signal(retentionChangedSignal, { dataRetention, revision: retentionRevision });
  return retentionRevision;
}

/** A session with personal data everywhere retention must reach. */
async function startSession(organizationId: string) {
  const createdAtMs = await env.currentTimeMs();
  const session = await createSessionAt(
    deps,
    organizationId,
    { correlationId: `CRM-${randomUUID()}`, journeyId: 'onboarding', userInput: { firstName: 'Ada', lastName: 'Lovelace', birthDate: '1815-12-10' } },
    new Date(createdAtMs),
  );
  const doc = await uploadDocument({ ...deps, maxDocumentBytes: 1 << 20, maxDocumentsPerSession: 20, maxSessionBytes: 1 << 24 }, session.link.url.split('/').pop()!, {
    type: 'passport',
    fileName: 'passport.jpg',
    contentType: 'image/jpeg',
    contentBase64: Buffer.from('jpeg-bytes').toString('base64'),
  });
  const analysis = await addSessionAnalysis(db, organizationId, session.id, { documentId: doc.id, kind: 'id_document', status: 'verify', result: { mrz: 'P<GBRLOVELACE<<ADA' } });
  const handle = env.client.workflow.getHandle<() => Promise<JourneySessionState>>(sessionWorkflowId(session.id));
  return { session, documentId: doc.id, analysisId: analysis.id, handle, createdAtMs };
}

type Started = Awaited<ReturnType<typeof startSession>>;

/**
 * Purged exactly at `purgeAtMs`: the purge was scheduled when the workflow's timer fired, and
 * that timer was armed for purgeAtMs to the millisecond (workflow time, read in the history).
 */
async function expectPurgedByTimerFor(s: { handle: { workflowId: string } }, purgeAtMs: number, purgeActivity = 'purgeSession') {
  expect(await whatScheduled(env.client, s.handle.workflowId, purgeActivity)).toEqual({ by: 'timer', armedForMs: purgeAtMs });
}
const iso = (ms: number) => new Date(ms).toISOString();

async function purgeAtAttribute(workflowId: string): Promise<string | null> {
  const sa = (await env.client.workflow.getHandle(workflowId).describe()).searchAttributes as Record<string, unknown[] | undefined>;
  const value = sa.PurgeAt?.length ? new Date(sa.PurgeAt[0] as Date) : null;
  // The time-skipping server shows a Datetime attribute removed by upsert as the epoch; the
  // dev server drops it (checked in test/integration/retentionRearm.test.ts).
  return value && value.getTime() !== 0 ? value.toISOString() : null;
}

/** Still all there, and scheduled for `purgeAtMs` in the workflow, its search attribute and SQL. */
async function expectScheduled(s: Started, purgeAtMs: number | null) {
  const expected = purgeAtMs === null ? null : iso(purgeAtMs);
  // Polled: a query that reaches a loaded worker before the workflow's first task registered
  // its handlers is refused (QueryNotRegisteredError).
  const state = await pollUntil(() => s.handle.query(stateQuery), () => true, 120_000);
  expect(state.status).not.toBe('purged');
  expect(state.purgeAt).toBe(expected);
  // The activity and the upsert follow the signal: wait for them to land.
  await pollUntil(() => purgeAtAttribute(s.handle.workflowId), (v) => v === expected, 120_000);
  const row = await pollUntil(() => db('sessions').where({ id: s.session.id }).first(), (r) => (r.purge_at?.toISOString() ?? null) === expected, 120_000);
  expect(row.status).not.toBe('purged');
  expect((await db('documents').where({ id: s.documentId }).first()).content.toString()).toBe('jpeg-bytes');
  expect((await db('entities').where({ id: s.session.entityId }).first()).personal_data).toMatchObject({ lastName: 'Lovelace' });
}

/**
 * The workflow ends once the data is gone. Not through result(): result() unlocks time
 * skipping, and the server would jump ahead to the next timer of any workflow. Nor through a
 * query: a closed workflow answers queries by replaying its history, which the purge made
 * undecodable (its data key is destroyed); the tombstone in PostgreSQL says when.
 */
async function expectPurged(s: Started) {
  await pollUntil(() => s.handle.describe(), (d) => d.status.name === 'COMPLETED', 120_000);
  const session = await db('sessions').where({ id: s.session.id }).first();
  const final = { status: session.status as string, purgedAt: (session.purged_at as Date).toISOString() };
  expect(session).toMatchObject({ status: 'purged', correlation_id: null, journey_id: null, redirect_url: null });
  expect(session.purged_at.toISOString()).toBe(final.purgedAt);
  expect(await db('documents').where({ id: s.documentId }).first()).toMatchObject({
    content: null,
    type: null,
    file_name: null,
    content_type: null,
    size_bytes: null,
    purged_at: expect.any(Date),
  });
  expect(await db('analyses').where({ id: s.analysisId }).first()).toMatchObject({ status: 'purged', result: null, correlation_id: null });
  expect((await db('entities').where({ id: s.session.entityId }).first()).personal_data).toBeNull();
  const events = await db('audit_events').where({ resource_type: 'session', resource_id: s.session.id, action: 'session.purge' });
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ actor_type: 'system', actor_id: 'retention', category: 'deletion', outcome: 'success' });
  expect(events[0].changes).toMatchObject({ reason: 'retention', documentsPurged: 1, analysesPurged: 1 });
  return final;
}

test('a 30-day retention purges exactly 30 days after creation', async () => {
  const org = await orgWithRetention('30d');
  const s = await startSession(org.organizationId);
  await expectScheduled(s, s.createdAtMs + 30 * DAY_MS);

  await env.sleep(30 * DAY_MS - MARGIN);
  await expectScheduled(s, s.createdAtMs + 30 * DAY_MS);
  await env.sleep(MARGIN + SECOND);
  await expectPurged(s);
  await expectPurgedByTimerFor(s, s.createdAtMs + 30 * DAY_MS);
});

test('shortened mid-way (30d → 20d on day 10): purged exactly 20 days after creation', async () => {
  const org = await orgWithRetention('30d');
  const s = await startSession(org.organizationId);
  await env.sleep(10 * DAY_MS);
  await changeRetention(org.organizationId, s.handle.workflowId, '20d');
  await expectScheduled(s, s.createdAtMs + 20 * DAY_MS);

  await env.sleep(10 * DAY_MS - MARGIN);
  await expectScheduled(s, s.createdAtMs + 20 * DAY_MS);
  await env.sleep(MARGIN + SECOND);
  await expectPurged(s);
  await expectPurgedByTimerFor(s, s.createdAtMs + 20 * DAY_MS);
});

test('shortened mid-way below the age of the session (30d → 5d on day 10): purged at once', async () => {
  const org = await orgWithRetention('30d');
  const s = await startSession(org.organizationId);
  await env.sleep(10 * DAY_MS);
  await changeRetention(org.organizationId, s.handle.workflowId, '5d');
  await expectPurged(s);
  // At once: the purge followed the signal, no timer in between.
  expect(await whatScheduled(env.client, s.handle.workflowId, 'purgeSession')).toEqual({ by: 'signal', signal: 'retentionChanged' });
});

test('lengthened mid-way (30d → 60d on day 10): kept past day 30, purged exactly at day 60', async () => {
  const org = await orgWithRetention('30d');
  const s = await startSession(org.organizationId);
  await env.sleep(10 * DAY_MS);
  await changeRetention(org.organizationId, s.handle.workflowId, '60d');
  await expectScheduled(s, s.createdAtMs + 60 * DAY_MS);

  await env.sleep(21 * DAY_MS);
  await expectScheduled(s, s.createdAtMs + 60 * DAY_MS);
  await env.sleep(29 * DAY_MS - MARGIN);
  await expectScheduled(s, s.createdAtMs + 60 * DAY_MS);
  await env.sleep(MARGIN + SECOND);
  await expectPurged(s);
  await expectPurgedByTimerFor(s, s.createdAtMs + 60 * DAY_MS);
});

test('null retention never purges, from creation or after a change to null', async () => {
  const never = await orgWithRetention(null);
  const kept = await startSession(never.organizationId);
  await expectScheduled(kept, null);

  const org = await orgWithRetention('30d');
  const changed = await startSession(org.organizationId);
  await env.sleep(10 * DAY_MS);
  await changeRetention(org.organizationId, changed.handle.workflowId, null);
  await expectScheduled(changed, null);

  // Almost ten years: the time-skipping server gives every workflow a ten-year run timeout
  // (a real cluster gives none), so this is about as far as it can look.
  await env.sleep(3600 * DAY_MS);
  for (const s of [kept, changed]) {
    await expectScheduled(s, null);
    expect((await s.handle.describe()).status.name).toBe('RUNNING');
  }
  expect(await db('audit_events').whereIn('resource_id', [kept.session.id, changed.session.id]).where({ action: 'session.purge' })).toHaveLength(0);
});

test('several changes re-arm each time; a late signal of an older change and malformed ones are ignored; a hand-typed one by an admin applies', async () => {
  const org = await orgWithRetention('30d');
  const s = await startSession(org.organizationId);
  const id = s.handle.workflowId;

  await env.sleep(DAY_MS);
  await changeRetention(org.organizationId, id, '10d');
  await expectScheduled(s, s.createdAtMs + 10 * DAY_MS);
  await env.sleep(DAY_MS);
  const revision90 = await changeRetention(org.organizationId, id, '90d');
  await expectScheduled(s, s.createdAtMs + 90 * DAY_MS);
  await env.sleep(DAY_MS);
  await changeRetention(org.organizationId, id, null);
  await expectScheduled(s, null);
  await env.sleep(DAY_MS);
  await changeRetention(org.organizationId, id, '45d');
  await expectScheduled(s, s.createdAtMs + 45 * DAY_MS);

  // The re-arm of an older change arriving last, and signals typed badly in the UI: no effect.
  await s.handle.signal(retentionChangedSignal, { dataRetention: '90d', revision: revision90 });
  await s.handle.signal(retentionChangedSignal, { dataRetention: '1x' });
  await s.handle.signal(retentionChangedSignal, { dataRetention: 5 as unknown as string });
  await s.handle.signal(retentionChangedSignal, {} as never);
  await expectScheduled(s, s.createdAtMs + 45 * DAY_MS);

  // A well-formed signal typed by an admin (no revision, the admin's operator id) applies, and
  // the workflow writes the new purge_at itself, as no PATCH did.
  const admin = await addOperator(db, org.organizationId, 'admin');
  await s.handle.signal(retentionChangedSignal, { dataRetention: '50d', operatorId: admin.id });
  // The workflow asks PostgreSQL whether the operator is an admin before it re-arms.
  await pollUntil(() => s.handle.query(stateQuery), (state) => state.purgeAt === iso(s.createdAtMs + 50 * DAY_MS), 120_000);
  await expectScheduled(s, s.createdAtMs + 50 * DAY_MS);

  await env.sleep(46 * DAY_MS - MARGIN);
  await expectScheduled(s, s.createdAtMs + 50 * DAY_MS);
  await env.sleep(MARGIN + SECOND);
  await expectPurged(s);
  await expectPurgedByTimerFor(s, s.createdAtMs + 50 * DAY_MS);
});

test('a standalone analysis is purged exactly at its creation + retention', async () => {
  const org = await orgWithRetention('30d');
  const createdAtMs = await env.currentTimeMs();
  const entityId = randomUUID();
  const analysisId = randomUUID();
  await db('entities').insert({ id: entityId, organization_id: org.organizationId, type: 'company', personal_data: JSON.stringify({ name: 'Analytical Engines Ltd' }), created_at: new Date(createdAtMs) });
  await db('analyses').insert({
    id: analysisId,
    organization_id: org.organizationId,
    entity_id: entityId,
    kind: 'kyb',
    status: 'verify',
    result: JSON.stringify({ register: 'UK-123' }),
    correlation_id: 'CRM-standalone',
    created_at: new Date(createdAtMs),
  });
  const input: StandaloneAnalysisInput = { analysisId, organizationId: org.organizationId, createdAt: iso(createdAtMs), dataRetention: '30d', retentionRevision: 1 };
  const handle = await env.client.workflow.start('standaloneAnalysis', {
    workflowId: analysisWorkflowId(analysisId),
    taskQueue,
    args: [input],
    typedSearchAttributes: [{ key: OrganizationId, value: org.organizationId }],
  });
  expect((await pollUntil(() => handle.query(analysisStateQuery), () => true, 120_000)).purgeAt).toBe(iso(createdAtMs + 30 * DAY_MS));

  await env.sleep(30 * DAY_MS - MARGIN);
  expect((await handle.query(analysisStateQuery)).status).toBe('active');
  expect((await db('analyses').where({ id: analysisId }).first()).result).toEqual({ register: 'UK-123' });
  await env.sleep(MARGIN + SECOND);
  await pollUntil(() => handle.describe(), (d) => d.status.name === 'COMPLETED', 120_000);
  expect(await db('analyses').where({ id: analysisId }).first()).toMatchObject({ status: 'purged', result: null, correlation_id: null, purged_at: expect.any(Date) });
  expect((await db('entities').where({ id: entityId }).first()).personal_data).toBeNull();
  await expectPurgedByTimerFor({ handle }, createdAtMs + 30 * DAY_MS, 'purgeStandaloneAnalysis');
  const [event] = await db('audit_events').where({ resource_type: 'analysis', resource_id: analysisId, action: 'analysis.purge' });
  expect(event).toMatchObject({ actor_type: 'system', actor_id: 'retention', category: 'deletion' });
});

test('a re-arm signal that reaches a session or an analysis before its first task applies (the start does not fail)', async () => {
  const org = await orgWithRetention('30d');
  const s = await startSession(org.organizationId);
  const settings = await db('settings').where({ organization_id: org.organizationId }).first('retention_revision');
  const revision = Number(settings.retention_revision);
  // The same session's workflow started again with the re-arm's signal already waiting, as
  // when a PATCH's re-arm overtakes a busy worker's first task.
  await s.handle.terminate('started again with a signal waiting (test)');
  const input: JourneySessionInput = {
    sessionId: s.session.id,
    organizationId: org.organizationId,
    createdAt: iso(s.createdAtMs),
    linkExpiresAt: s.session.link.expiresAt,
    dataRetention: '30d',
    retentionRevision: revision,
  };
  const started = await env.client.workflow.signalWithStart('journeySession', {
    workflowId: s.handle.workflowId,
    taskQueue,
    args: [input],
    signal: retentionChangedSignal,
    signalArgs: [{ dataRetention: '20d', revision: revision + 1 }],
  });
  const state = await pollUntil(() => started.query(stateQuery), (st) => st.purgeAt === iso(s.createdAtMs + 20 * DAY_MS), 120_000);
  expect(state.status).toBe('created');

  const analysisId = randomUUID();
  const entityId = randomUUID();
  await db('entities').insert({ id: entityId, organization_id: org.organizationId, type: 'company', personal_data: null, created_at: new Date(s.createdAtMs) });
  await db('analyses').insert({ id: analysisId, organization_id: org.organizationId, entity_id: entityId, kind: 'kyb', status: 'verify', created_at: new Date(s.createdAtMs) });
  const analysis = await env.client.workflow.signalWithStart('standaloneAnalysis', {
    workflowId: analysisWorkflowId(analysisId),
    taskQueue,
    args: [{ analysisId, organizationId: org.organizationId, createdAt: iso(s.createdAtMs), dataRetention: '30d', retentionRevision: revision } satisfies StandaloneAnalysisInput],
    signal: retentionChangedSignal,
    signalArgs: [{ dataRetention: '20d', revision: revision + 1 }],
    typedSearchAttributes: [{ key: OrganizationId, value: org.organizationId }],
  });
  const analysisState = await pollUntil(() => analysis.query(analysisStateQuery), (st) => st.purgeAt === iso(s.createdAtMs + 20 * DAY_MS), 120_000);
  expect(analysisState.status).toBe('active');
});
