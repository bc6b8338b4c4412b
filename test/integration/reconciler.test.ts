import { randomUUID } from 'node:crypto';
import { verifyLedger } from '../../src/audit/ledger';
import { reschedulePurges } from '../../src/settings/retention';
import { updateSettings } from '../../src/settings/settings';
import { ensureReconcilerSchedule } from '../../src/temporal/reconcilerSchedule';
import {
  analysisWorkflowId,
  decideUpdate,
  sessionWorkflowId,
  stateQuery,
  webhookWorkflowId,
  type ReconcileInput,
  type ReconcileResult,
} from '../../workflows/definitions';
import { WebhookReceiver } from '../support/receiver';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { apiWithoutTemporal, type ApiWithoutTemporal } from '../support/temporalDown';
import { call, newOrganization, startSystem, TEST_METRICS_TOKEN, waitUntil, type TestSystem } from '../support/system';
import { hasDeliveryWorkflow, sessionEndDelivery } from '../support/webhooks';
import { recordAttempt, recordDelivery } from '../../src/webhooks/deliveries';

// The reconciler (docs/reliability.md) on the dev server and PostgreSQL: workflows are
// terminated by hand, starts never happen, re-arms are lost; one reconcile run, started
// directly (or by its Schedule), repairs each. Runs are scoped to this file's organizations,
// since other test files share the database and the Temporal server.
let sys: TestSystem;
let receiver: WebhookReceiver;
let down: ApiWithoutTemporal;

beforeAll(async () => {
  // A failed webhook attempt waits an hour: only a resume can deliver it within the test.
  sys = await startSystem({ WEBHOOK_RETRY_DELAYS_SECONDS: '3600,3600', METRICS_CACHE_SECONDS: '0' });
  receiver = await new WebhookReceiver().start();
  down = await apiWithoutTemporal(sys);
});
afterAll(async () => {
  await down?.stop();
  await receiver?.stop();
  await sys?.stop();
});

const deps = () => sessionDeps(sys.db, sys.client, sys.config.TEMPORAL_TASK_QUEUE, sys.baseUrl);

async function reconcile(organizationIds: string[], extra: ReconcileInput = {}): Promise<ReconcileResult> {
  return sys.client.workflow.execute('reconcile', {
    taskQueue: sys.config.TEMPORAL_TASK_QUEUE,
    workflowId: `reconcile-test-${randomUUID()}`,
    args: [{ organizationIds, pendingGraceSeconds: 0, deliveryGraceSeconds: 0, ...extra }],
  });
}

const terminate = (workflowId: string) => sys.client.workflow.getHandle(workflowId).terminate('lost by hand (test)');

test('(a) a session past its purge time whose workflow was terminated is purged by the reconciler, as a system action', async () => {
  const org = await newOrganization(sys.db);
  await updateSettings(sys.db, org.organizationId, { dataRetention: '30d' });
  const session = await createSessionAt(deps(), org.organizationId, { correlationId: 'CRM-overdue', userInput: { lastName: 'Overdue' } });
  const kept = await createSessionAt(deps(), org.organizationId, { userInput: { lastName: 'Kept' } });
  await terminate(sessionWorkflowId(session.id));
  // Its deadline passes while no workflow is there to keep it.
  await sys.db('sessions').where({ id: session.id }).update({ purge_at: new Date(Date.now() - 60_000) });

  const result = await reconcile([org.organizationId]);
  expect(result).toMatchObject({ purged: 1, restarted: 0 });
  const row = await sys.db('sessions').where({ id: session.id }).first();
  expect(row).toMatchObject({ status: 'purged', correlation_id: null });
  expect((await sys.db('entities').where({ id: session.entityId }).first()).personal_data).toBeNull();
  const purge = await sys.db('audit_events').where({ resource_id: session.id, action: 'session.purge' });
  expect(purge).toEqual([expect.objectContaining({ actor_type: 'system', actor_id: 'reconciler', category: 'deletion' })]);
  expect(purge[0].changes).toMatchObject({ reason: 'retention', status: { before: 'created', after: 'purged' } });
  // The session not yet due is untouched; a second run finds nothing to do.
  expect((await sys.db('sessions').where({ id: kept.id }).first()).status).toBe('created');
  expect(await reconcile([org.organizationId])).toMatchObject({ purged: 0, restarted: 0, started: 0, resumed: 0 });
  expect(await verifyLedger(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId)).toMatchObject({ valid: true });

  const metrics = await call(sys.baseUrl, 'GET', '/metrics', { token: TEST_METRICS_TOKEN });
  expect(metrics.status).toBe(200);
  expect(Number(/kyc_reconciler_repairs_total\{kind="purged"\} (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThanOrEqual(1);
  expect(Number(/kyc_reconciler_checked_total (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThanOrEqual(2);
});

test('(b) an open session whose workflow was terminated is restarted by id, and still expires and purges on time', async () => {
  const org = await newOrganization(sys.db);
  await updateSettings(sys.db, org.organizationId, { dataRetention: '2m' });
  // Created 55 s ago: the link expires in about 5 s, the purge is due in about 65 s.
  const session = await createSessionAt(deps(), org.organizationId, { linkExpiry: '1m', userInput: { lastName: 'Lost' } }, new Date(Date.now() - 55_000));
  await terminate(sessionWorkflowId(session.id));

  expect(await reconcile([org.organizationId])).toMatchObject({ restarted: 1, purged: 0 });
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(session.id));
  expect((await handle.describe()).status.name).toBe('RUNNING');

  const final = await handle.result();
  expect(final.status).toBe('purged');
  const row = await sys.db('sessions').where({ id: session.id }).first();
  expect(row.expired_at.toISOString()).toBe(session.link.expiresAt);
  expect(row.purged_at.getTime()).toBeGreaterThanOrEqual(row.purge_at.getTime());
  expect(row.purge_at.getTime()).toBe(Date.parse(session.createdAt) + 2 * 60_000);
  expect((await sys.db('entities').where({ id: session.entityId }).first()).personal_data).toBeNull();
}, 180_000);

test('(b) a completed session restarted by the reconciler carries on from its record: completed, its verdict, decisions still taken', async () => {
  const org = await newOrganization(sys.db);
  const session = await createSessionAt(deps(), org.organizationId, {});
  const link = new URL(session.link.url).pathname;
  const analysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${session.id}/analyses`, { token: org.apiKey, body: { kind: 'id', status: 'verify' } });
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
  await waitUntil(() => sys.db('webhook_deliveries').where({ session_id: session.id }), (rows) => rows.length === 1);
  await terminate(sessionWorkflowId(session.id));

  expect(await reconcile([org.organizationId])).toMatchObject({ restarted: 1 });
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(session.id));
  expect(await handle.query(stateQuery)).toMatchObject({ status: 'completed', verdict: 'verify' });
  const decided = await handle.executeUpdate(decideUpdate, { args: [{ analysisId: analysis.body.id, newStatus: 'user_approved', operatorId: org.adminId }] });
  expect(decided).toMatchObject({ accepted: true, changed: true });
  // The session-end webhook was not dispatched a second time.
  expect((await sys.db('webhook_deliveries').where({ session_id: session.id, event: 'session_end' })).length).toBe(1);
});

test('(b) a pending session and a pending analysis whose workflows were never started are started and become created', async () => {
  const org = await newOrganization(sys.db);
  const headers = { 'idempotency-key': `never-${org.organizationId}` };
  expect((await call(down.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body: {} })).status).toBe(503);
  expect((await call(down.baseUrl, 'POST', '/v1/analyses', { token: org.apiKey, headers, body: { kind: 'kbis', status: 'verify' } })).status).toBe(503);
  const [session] = await sys.db('sessions').where({ organization_id: org.organizationId });
  const [analysis] = await sys.db('analyses').where({ organization_id: org.organizationId });
  expect([session.status, analysis.workflow_pending]).toEqual(['pending', true]);

  // Within the grace period a pending record is a creation in flight: left alone.
  expect(await reconcile([org.organizationId], { pendingGraceSeconds: 3600 })).toMatchObject({ started: 0 });
  expect(await reconcile([org.organizationId])).toMatchObject({ started: 2 });
  expect((await sys.db('sessions').where({ id: session.id }).first()).status).toBe('created');
  expect((await sys.db('analyses').where({ id: analysis.id }).first()).workflow_pending).toBe(false);
  expect((await sys.client.workflow.getHandle(sessionWorkflowId(session.id)).describe()).status.name).toBe('RUNNING');
  expect((await sys.client.workflow.getHandle(analysisWorkflowId(analysis.id)).describe()).status.name).toBe('RUNNING');
  // The customer's retry with the key now gets that very session.
  const retried = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body: {} });
  expect(retried.body).toMatchObject({ id: session.id, status: 'created' });
});

test('(b) running workflows that missed a retention re-arm are re-armed to their record', async () => {
  const org = await newOrganization(sys.db);
  const session = await createSessionAt(deps(), org.organizationId, {});
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(session.id));
  // A retention change whose re-arm never started: saved in PostgreSQL, unknown to the workflow.
  await sys.db.transaction(async (trx) => {
    await updateSettings(trx, org.organizationId, { dataRetention: '30d' });
    await reschedulePurges(trx, org.organizationId, '30d');
  });
  expect((await handle.query(stateQuery)).purgeAt).toBeNull();

  expect(await reconcile([org.organizationId])).toMatchObject({ rearmed: 1 });
  const expected = new Date(Date.parse(session.createdAt) + 30 * 24 * 60 * 60_000).toISOString();
  await waitUntil(() => handle.query(stateQuery), (s) => s.purgeAt === expected);
  expect(await reconcile([org.organizationId])).toMatchObject({ rearmed: 0 });
});

test('(c) a pending delivery whose workflow was terminated is resumed under the same webhook-id and received', async () => {
  const org = await newOrganization(sys.db);
  await updateSettings(sys.db, org.organizationId, { sessionEndWebhookUrl: `${receiver.url}/resume-${org.organizationId}` });
  const path = `/resume-${org.organizationId}`;
  let up = false;
  receiver.respond = (req) => (req.path === path && !up ? { status: 500 } : { status: 200 });
  const session = await createSessionAt(deps(), org.organizationId, {});
  expect((await call(sys.baseUrl, 'POST', `${new URL(session.link.url).pathname}/complete`)).status).toBe(202);
  const delivery = await sessionEndDelivery(sys.db, org.organizationId, session.id);
  const [first] = await receiver.waitForPath(path, 1);
  await waitUntil(() => sys.db('webhook_attempts').where({ delivery_id: delivery.id }), (rows) => rows.length === 1);
  // Attempt 1 (the session's activity) failed, so the delivery's workflow took over the retries.
  await waitUntil(() => hasDeliveryWorkflow(sys.client, delivery.id), (exists) => exists);
  // The delivery now waits an hour for its next attempt; its workflow is lost.
  await terminate(webhookWorkflowId(delivery.id, 1));
  up = true;

  expect(await reconcile([org.organizationId])).toMatchObject({ resumed: 1 });
  const [, second] = await receiver.waitForPath(path, 2);
  expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
  expect(second.body).toBe(first.body);
  const row = await waitUntil(() => sys.db('webhook_deliveries').where({ id: delivery.id }).first(), (r) => r.status === 'succeeded');
  expect(row.current_series).toBe(2);
  const resume = await sys.db('audit_events').where({ resource_id: delivery.id, action: 'webhook_delivery.resume' });
  expect(resume).toEqual([expect.objectContaining({ actor_type: 'system', actor_id: 'reconciler' })]);
  expect(await reconcile([org.organizationId])).toMatchObject({ resumed: 0 });
});

test('(c) a delivery whose first attempt failed and whose workflow never started (a crash between the two) is resumed', async () => {
  const org = await newOrganization(sys.db);
  const path = `/first-failed-${org.organizationId}`;
  await updateSettings(sys.db, org.organizationId, { sessionEndWebhookUrl: `${receiver.url}${path}` });
  // What the session's `sendWebhook` activity leaves if the worker dies after attempt 1 and
  // before the workflow start, and the activity is never retried (its workflow gone too).
  const sessionId = randomUUID();
  const delivery = await recordDelivery(sys.db, {
    organizationId: org.organizationId,
    event: 'session_end',
    eventKey: `session_end:${sessionId}`,
    sessionId,
    analysisId: null,
    payload: { sessionId, newStatus: 'verify' },
  });
  const at = new Date();
  await recordAttempt(
    sys.db,
    { delivery_id: delivery.id, series: 1, attempt_no: 1, attempted_at: at, url: `${receiver.url}${path}`, outcome: 'failure', status_code: 500, duration_ms: 3, error: null, response_body: null },
    'pending',
    new Date(at.getTime() + 3_600_000),
  );
  expect(await hasDeliveryWorkflow(sys.client, delivery.id)).toBe(false);

  expect(await reconcile([org.organizationId])).toMatchObject({ resumed: 1 });
  const [received] = await receiver.waitForPath(path, 1);
  expect(received.body).toBe(JSON.stringify({ sessionId, newStatus: 'verify' }));
  const row = await waitUntil(() => sys.db('webhook_deliveries').where({ id: delivery.id }).first(), (r) => r.status === 'succeeded');
  expect(row).toMatchObject({ current_series: 2, attempt_count: 2 });
  expect(await reconcile([org.organizationId])).toMatchObject({ resumed: 0 });
});

test('(c) rotated-out webhook secrets whose grace ended are deleted by the reconciler, with no delivery or rotation to do it', async () => {
  const org = await newOrganization(sys.db);
  expect((await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: org.adminToken })).status).toBe(200);
  const secrets = () => sys.db('webhook_secrets').where({ organization_id: org.organizationId }).orderBy('created_at');
  const [old] = await secrets();
  expect(old.expires_at).not.toBeNull();
  // Its 24 h grace over: nothing else of this organization happens afterwards.
  await sys.db('webhook_secrets').where({ id: old.id }).update({ expires_at: new Date(Date.now() - 1000) });
  await reconcile([org.organizationId]);
  const left = await secrets();
  expect(left).toHaveLength(1);
  expect(left[0].id).not.toBe(old.id);
  expect(left[0].expires_at).toBeNull();
});

test('the Schedule is created idempotently, and a triggered run reconciles', async () => {
  const org = await newOrganization(sys.db);
  const scheduleId = `reconciler-test-${randomUUID()}`;
  const options = { taskQueue: sys.config.TEMPORAL_TASK_QUEUE, interval: '1h', scheduleId, input: { organizationIds: [org.organizationId], pendingGraceSeconds: 0 } };
  expect(await ensureReconcilerSchedule(sys.client, options)).toBe('created');
  expect(await ensureReconcilerSchedule(sys.client, { ...options, interval: '5m' })).toBe('updated');
  const schedule = sys.client.schedule.getHandle(scheduleId);
  try {
    const described = await schedule.describe();
    expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 5 * 60_000 })]);

    expect((await call(down.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers: { 'idempotency-key': 'sched' }, body: {} })).status).toBe(503);
    await schedule.trigger();
    const withRun = await waitUntil(() => schedule.describe(), (d) => d.info.recentActions.length > 0);
    const run = withRun.info.recentActions[0].action.workflow;
    const result: ReconcileResult = await sys.client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result();
    expect(result).toMatchObject({ started: 1 });
    expect((await sys.db('sessions').where({ organization_id: org.organizationId }).first()).status).toBe('created');
  } finally {
    await schedule.delete();
  }
});
