import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Db } from '../../src/db/knex';
import { addSessionAnalysis, createSession, SessionDeps } from '../../src/sessions/sessions';
import { createStandaloneAnalysis } from '../../src/analyses/analyses';
import { updateSettings } from '../../src/settings/settings';
import { CorrelationId, LinkExpiresAt, OrganizationId, PurgeAt, SessionStatus, Verdict } from '../../src/temporal/searchAttributes';
import {
  analysisStateQuery,
  analysisWorkflowId,
  analystDecisionSignal,
  completeJourneyUpdate,
  decideUpdate,
  openLinkUpdate,
  sessionWorkflowId,
  stateQuery,
} from '../../workflows/definitions';
import { PATCHES } from '../../workflows/lifecycle';
import { WebhookReceiver } from '../support/receiver';
import { newOrganization, waitUntil } from '../support/system';
import { startTimeSkippingSystem, type TimeSkippingSystem } from '../support/timeSkipping';

// The lighter journey (issue 10): the analyst decision recorded by a local activity in the
// workflow task that takes it (PATCHES.light), and search attributes upserted only
// where they change (PATCHES.light), while the Temporal UI shows the same attributes at every
// status. Read from the histories and from describe(), never from elapsed time.
const DAY_MS = 24 * 60 * 60 * 1000;
const { EventType } = temporal.api.enums.v1;
type Event = temporal.api.history.v1.IHistoryEvent;

let sys: TimeSkippingSystem;
let env: TestWorkflowEnvironment;
let db: Db;
let deps: SessionDeps;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  sys = await startTimeSkippingSystem();
  ({ env, db } = sys);
  deps = { db, temporal: env.client, taskQueue: sys.config.TEMPORAL_TASK_QUEUE, publicBaseUrl: 'http://kyc.test', auditKey: sys.config.AUDIT_HMAC_KEY };
});
afterAll(async () => {
  await sys?.stop();
  await receiver?.stop();
});

const events = async (workflowId: string): Promise<Event[]> => (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];

/** The attribute names of each UpsertWorkflowSearchAttributes event. */
const allUpserts = (history: Event[]): string[][] =>
  history
    .filter((e) => e.eventType === EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    .map((e) => Object.keys(e.upsertWorkflowSearchAttributesEventAttributes!.searchAttributes!.indexedFields ?? {}).sort());
/** The workflow's own upserts: without SDK Core's `TemporalChangeVersion` upsert of each patch taken. */
const upserts = (history: Event[]): string[][] => allUpserts(history).filter((names) => !names.includes('TemporalChangeVersion'));

const scheduledActivities = (history: Event[]): string[] =>
  history.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name!] : []));

/** Activity types of the local-activity markers (SDK Core's marker data: JSON, in clear). */
const localActivities = (history: Event[]): string[] =>
  history
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
    .map((e) => {
      const data = e.markerRecordedEventAttributes!.details!.data!.payloads![0]!.data!;
      const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string; activityType?: string };
      return parsed.activity_type ?? parsed.activityType ?? '?';
    });

const patchMarkers = (history: Event[]): string[] =>
  history
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .flatMap((e) => (e.markerRecordedEventAttributes!.details!['patch-data']?.payloads ?? []).map((p) => JSON.parse(Buffer.from(p.data!).toString()).id as string));

/** What the Temporal UI shows: the workflow's search attributes as the server holds them. */
async function shown(workflowId: string) {
  const sa = (await env.client.workflow.getHandle(workflowId).describe()).typedSearchAttributes;
  return {
    organizationId: sa.get(OrganizationId),
    status: sa.get(SessionStatus),
    verdict: sa.get(Verdict),
    linkExpiresAt: sa.get(LinkExpiresAt)?.toISOString(),
    purgeAt: sa.get(PurgeAt)?.toISOString(),
    correlationId: sa.get(CorrelationId) === undefined ? 'unset' : 'set',
  };
}

/** Waits until the workflow's latest workflow task has completed (nothing left to run). */
async function settled(workflowId: string): Promise<Event[]> {
  return waitUntil(
    () => events(workflowId),
    (h) => {
      const last = [...h].reverse().find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED || e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
      return last?.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
    },
  );
}

test('a session journey: decisions by local activity, one upsert per visible change, the attributes right at every status', async () => {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, { dataRetention: '30d', decisionWebhookUrl: `${receiver.url}/light-decision` });
  const session = await createSession(deps, org.asApiKey, { correlationId: 'LIGHT-1' }, new Date(await env.currentTimeMs()));
  const workflowId = sessionWorkflowId(session.id);
  const handle = env.client.workflow.getHandle(workflowId);
  const purgeAt = new Date(Date.parse(session.createdAt) + 30 * DAY_MS).toISOString();
  const base = { organizationId: org.organizationId, linkExpiresAt: session.link.expiresAt, purgeAt, correlationId: 'set' };

  // The start set every attribute the first publish would: no upsert of the workflow's own,
  // only the patch's marker and its TemporalChangeVersion upsert (SDK Core's).
  let history = await settled(workflowId);
  expect(allUpserts(history)).toEqual([['TemporalChangeVersion']]);
  expect(patchMarkers(history)).toEqual([PATCHES.light]);
  expect(await shown(workflowId)).toEqual({ ...base, status: 'created', verdict: undefined });

  await handle.executeUpdate(openLinkUpdate);
  expect(await shown(workflowId)).toEqual({ ...base, status: 'in_progress', verdict: undefined });
  const first = await addSessionAnalysis(db, org.organizationId, session.id, { kind: 'id', status: 'verify' });
  const second = await addSessionAnalysis(db, org.organizationId, session.id, { kind: 'selfie', status: 'verify' });
  await handle.executeUpdate(completeJourneyUpdate);
  expect(await shown(workflowId)).toEqual({ ...base, status: 'completed', verdict: 'verify' });

  const outcome = await handle.executeUpdate(decideUpdate, { args: [{ analysisId: first.id, newStatus: 'user_approved', operatorId: org.adminId }] });
  expect(outcome).toMatchObject({ accepted: true, changed: true });
  expect(await shown(workflowId)).toEqual({ ...base, status: 'completed', verdict: 'user_approved' });
  // The second analysis decided the same way: its status changes, the verdict does not.
  const same = await handle.executeUpdate(decideUpdate, { args: [{ analysisId: second.id, newStatus: 'user_approved', operatorId: org.adminId }] });
  expect(same).toMatchObject({ accepted: true, changed: true });
  // A refused decision (an unknown operator) is recorded with outcome failure, as before.
  const refused = await handle.executeUpdate(decideUpdate, {
    args: [{ analysisId: first.id, newStatus: 'user_rejected', operatorId: '00000000-0000-4000-8000-000000000000' }],
  });
  expect(refused).toMatchObject({ accepted: false, reason: 'operator_not_allowed' });
  await handle.signal(analystDecisionSignal, { analysisId: first.id, newStatus: 'user_rejected', operatorId: org.adminId });
  await waitUntil(() => db('analyses').where({ id: first.id }).first(), (a) => a.status === 'user_rejected');
  history = await settled(workflowId);
  expect(await shown(workflowId)).toEqual({ ...base, status: 'completed', verdict: 'user_rejected' });

  // Four decisions: four local activities, no recordDecision activity task; each decision that
  // changed an analysis has its webhook, whose first attempt is still the session's own activity.
  expect(localActivities(history).filter((t) => t === 'recordDecision')).toHaveLength(4);
  expect(scheduledActivities(history)).not.toContain('recordDecision');
  expect(scheduledActivities(history).filter((t) => t === 'sendRecordedWebhook')).toHaveLength(3);
  expect(patchMarkers(history).filter((id) => id === PATCHES.light)).toHaveLength(1);
  const decisionEvents = await db('audit_events').where({ organization_id: org.organizationId, action: 'analysis.decision' }).orderBy('append_order');
  expect(decisionEvents.map((e: { outcome: string }) => e.outcome)).toEqual(['success', 'success', 'failure', 'success']);
  const deliveries = await waitUntil(
    () => db('webhook_deliveries').where({ organization_id: org.organizationId, event: 'decision' }),
    (rows) => rows.length === 3 && rows.every((r: { status: string }) => r.status === 'succeeded'),
  );
  expect(deliveries.map((d: { attempt_count: number }) => d.attempt_count)).toEqual([1, 1, 1]);
  expect(await receiver.waitForPath('/light-decision', 3)).toHaveLength(3);

  // Only what changed: the status at the opening, status and verdict at the completion, the
  // verdict at the first and the last decision; nothing for the decision that left it as it was.
  expect(upserts(history)).toEqual([['SessionStatus'], ['SessionStatus', 'Verdict'], ['Verdict'], ['Verdict']]);

  await env.sleep(31 * DAY_MS);
  expect((await handle.result()).status).toBe('purged');
  expect(await shown(workflowId)).toEqual({ ...base, status: 'purged', verdict: 'user_rejected', correlationId: 'unset' });
  expect(upserts(await events(workflowId)).at(-1)).toEqual(['CorrelationId', 'SessionStatus']);
  if (process.env.LIGHT_DEBUG) {
    const counts: Record<string, number> = {};
    for (const e of await events(workflowId)) counts[EventType[e.eventType!]!] = (counts[EventType[e.eventType!]!] ?? 0) + 1;
    console.log(JSON.stringify({ counts, patches: patchMarkers(await events(workflowId)), upserts: allUpserts(await events(workflowId)) }));
  }
});

test('a retention change to the same instant upserts nothing; to another, only PurgeAt', async () => {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, { dataRetention: '30d' });
  const session = await createSession(deps, org.asApiKey, {}, new Date(await env.currentTimeMs()));
  const workflowId = sessionWorkflowId(session.id);
  const handle = env.client.workflow.getHandle(workflowId);
  await settled(workflowId);
  // Typed in the UI/CLI without a revision: applied once the admin check passed, written by the workflow.
  await handle.signal('retentionChanged', { dataRetention: '30d', operatorId: org.adminId });
  await waitUntil(() => db('audit_events').where({ organization_id: org.organizationId, action: 'retention.change' }), (rows) => rows.length === 1);
  await settled(workflowId);
  expect(upserts(await events(workflowId))).toEqual([]);
  await handle.signal('retentionChanged', { dataRetention: '60d', operatorId: org.adminId });
  const purgeAt = new Date(Date.parse(session.createdAt) + 60 * DAY_MS).toISOString();
  await waitUntil(() => handle.query(stateQuery), (s) => s.purgeAt === purgeAt);
  await settled(workflowId);
  expect(upserts(await events(workflowId))).toEqual([['PurgeAt']]);
  expect((await shown(workflowId)).purgeAt).toBe(purgeAt);
});

test('a standalone analysis: no upsert at the start, its decision by local activity', async () => {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, { dataRetention: '30d' });
  const analysisDeps = { db, temporal: env.client, taskQueue: deps.taskQueue, auditKey: deps.auditKey };
  const analysis = await createStandaloneAnalysis(analysisDeps, org.asApiKey, { kind: 'kbis', status: 'verify', correlationId: 'CO-LIGHT' }, new Date(await env.currentTimeMs()));
  const workflowId = analysisWorkflowId(analysis.id);
  const handle = env.client.workflow.getHandle(workflowId);
  await handle.executeUpdate(decideUpdate, { args: [{ analysisId: analysis.id, newStatus: 'user_approved', operatorId: org.adminId }] });
  const history = await settled(workflowId);
  expect(upserts(history)).toEqual([]);
  expect(localActivities(history)).toEqual(['recordDecision']);
  expect(scheduledActivities(history)).not.toContain('recordDecision');
  expect((await handle.query(analysisStateQuery)).status).toBe('active');
  expect((await db('analyses').where({ id: analysis.id }).first()).status).toBe('user_approved');

  await env.sleep(31 * DAY_MS);
  expect((await handle.result()).status).toBe('purged');
  expect(upserts(await events(workflowId))).toEqual([['CorrelationId']]);
  expect((await handle.describe()).typedSearchAttributes.get(CorrelationId)).toBeUndefined();
});
