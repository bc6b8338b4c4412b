import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WebhookVerificationError } from 'standardwebhooks';
import { WorkflowNotFoundError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createWebhookActivities, startDeliveryWorkflow, type InlineDeliveryResult } from '../../activities/webhooks';
import { sendWebhookRequest } from '../../src/webhooks/sendWebhookRequest';
import { verifyLedger } from '../../src/audit/ledger';
import type { Db } from '../../src/db/knex';
import { currentWebhookSecret, updateSettings } from '../../src/settings/settings';
import { getDeliveryView, recordDelivery } from '../../src/webhooks/deliveries';
import { rotateWebhookSecret } from '../../src/webhooks/secretRotation';
import { MasterKeys } from '../../src/payloads/keyStore';
import { webhookWorkflowId } from '../../workflows/definitions';
import { WebhookReceiver } from '../support/receiver';
import { newOrganization } from '../support/system';
import { startTimeSkippingSystem, type TimeSkippingSystem } from '../support/timeSkipping';
import { verifyWithStandardWebhooks } from '../support/webhooks';

// The long retry schedule on the time-skipping test server: three days pass in seconds.
// Real activities, real PostgreSQL, a real receiver on 127.0.0.1. Each test records a
// session-end event and starts its delivery workflow exactly as the session workflow's
// dispatchWebhook activity does (the REST path end to end is in test/integration). The
// activities' clock is the server's (the time Temporal scheduled the attempt), so the
// delivery log's times are the ones a user would see in production.
const SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];
const HOUR_MS = 60 * 60 * 1000;

let sys: TimeSkippingSystem;
let env: TestWorkflowEnvironment;
let db: Db;
let receiver: WebhookReceiver;
let config: TimeSkippingSystem['config'];

beforeAll(async () => {
  sys = await startTimeSkippingSystem(
    { WEBHOOK_RETRY_DELAYS_SECONDS: SCHEDULE.join(',') },
    { clock: () => new Date(Context.current().info.currentAttemptScheduledTimestampMs) },
  );
  ({ env, db, config } = sys);
  receiver = await new WebhookReceiver().start();
});

afterAll(async () => {
  await receiver?.stop();
  await sys?.stop();
});

afterEach(() => {
  receiver.respond = () => ({ status: 200, body: 'ok' });
  jest.restoreAllMocks();
});

async function orgWithUrl(path: string) {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, { sessionEndWebhookUrl: receiver.url + path });
  return org;
}

/** A session-end event for a (made-up) session: recorded, and its delivery workflow started. */
async function dispatch(organizationId: string) {
  const sessionId = randomUUID();
  const delivery = await recordDelivery(db, {
    organizationId,
    event: 'session_end',
    eventKey: `session_end:${sessionId}`,
    sessionId,
    analysisId: null,
    payload: { sessionId, newStatus: 'verify' },
  });
  await startDeliveryWorkflow(env.client, {
    input: { deliveryId: delivery.id, organizationId, series: 1, retryDelaysSeconds: config.WEBHOOK_RETRY_DELAYS_SECONDS },
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    summary: `session_end webhook for session ${sessionId}`,
  });
  return { sessionId, deliveryId: delivery.id, handle: env.client.workflow.getHandle(webhookWorkflowId(delivery.id, 1)) };
}

/** Dispatches an event and lets (skipped) time run until its delivery workflow ends. */
async function deliverOnce(organizationId: string) {
  const { sessionId, deliveryId, handle } = await dispatch(organizationId);
  const result = await handle.result();
  const view = (await getDeliveryView(db, organizationId, deliveryId))!;
  return { sessionId, deliveryId, handle, result, view };
}

/** Milliseconds between consecutive attempts, from the delivery log. */
const gapsOf = (attempts: { attemptedAt: string }[]) =>
  attempts.slice(1).map((a, i) => Date.parse(a.attemptedAt) - Date.parse(attempts[i].attemptedAt));

/**
 * Each gap is at least the scheduled wait, and well short of the next step of the schedule
 * (the bound is generous: an attempt's own real time on a loaded machine is not the point).
 */
function expectGaps(gapsMs: number[], waitsSeconds: number[]) {
  expect(gapsMs).toHaveLength(waitsSeconds.length);
  gapsMs.forEach((gap, i) => {
    expect(gap).toBeGreaterThanOrEqual(waitsSeconds[i] * 1000);
    expect(gap).toBeLessThan(waitsSeconds[i] * 1000 + 60_000);
  });
}

test('a receiver that never succeeds gets 10 attempts over about three days, at the schedule, then the delivery fails and is audited', async () => {
  const org = await orgWithUrl('/always-500');
  receiver.respond = () => ({ status: 500, body: 'down for maintenance' });
  const before = receiver.forPath('/always-500').length;

  const { deliveryId, handle, result, view } = await deliverOnce(org.organizationId);
  expect(result).toBe('failed');

  // The delivery log: 10 attempts, each failure recorded with its status and the response.
  expect(view).toMatchObject({ status: 'failed', attemptCount: 10, nextAttemptAt: null, series: 1 });
  expect(view.attempts.map((a) => [a.attemptNo, a.outcome, a.statusCode])).toEqual(
    Array.from({ length: 10 }, (_, i) => [i + 1, 'failure', 500]),
  );
  expect(view.attempts[0].responseBody).toBe('down for maintenance');
  expectGaps(gapsOf(view.attempts), SCHEDULE);
  const spanHours = (Date.parse(view.attempts[9].attemptedAt) - Date.parse(view.attempts[0].attemptedAt)) / HOUR_MS;
  expect(spanHours).toBeGreaterThan(72);
  expect(spanHours).toBeLessThan(80);
  expect(receiver.forPath('/always-500').length - before).toBe(10);

  // The workflow's own record agrees: one timer per wait, exactly the schedule.
  const history = await handle.fetchHistory();
  const timers = (history.events ?? [])
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
  expect(timers).toEqual(SCHEDULE);

  // Exhaustion is a system action in the audit ledger, recorded once, and the chain holds.
  const events = await db('audit_events').where({ organization_id: org.organizationId, resource_id: deliveryId });
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({
    actor_type: 'system',
    actor_id: 'webhook-delivery',
    action: 'webhook_delivery.exhausted',
    category: 'modification',
    outcome: 'success',
  });
  expect(events[0].changes).toMatchObject({ status: { before: 'pending', after: 'failed' }, reason: 'exhausted', attempts: 10 });
  expect((await verifyLedger(db, config.AUDIT_HMAC_KEY, org.organizationId)).valid).toBe(true);
});

/**
 * A session-end event as the patched session workflow sends it: its `sendWebhook` activity
 * (the real one, in an activity context) records it and makes attempt 1 itself.
 */
async function sendInline(organizationId: string) {
  const sessionId = randomUUID();
  const now = new Date(await env.currentTimeMs());
  const acts = createWebhookActivities({ db, temporal: env.client, send: sendWebhookRequest, config, clock: () => now });
  const activityEnv = new MockActivityEnvironment({ taskQueue: config.TEMPORAL_TASK_QUEUE });
  const delivery = {
    organizationId,
    event: 'session_end' as const,
    eventKey: `session_end:${sessionId}`,
    sessionId,
    analysisId: null,
    payload: { sessionId, newStatus: 'verify' },
  };
  const send = (): Promise<InlineDeliveryResult> => activityEnv.run(acts.sendWebhook, delivery);
  const result = await send();
  return { sessionId, result, send, handle: env.client.workflow.getHandle(webhookWorkflowId(result.deliveryId, 1)) };
}

test('after a failed inline first attempt the delivery workflow waits the first delay and goes on at attempt 2: the same 10 attempts at the schedule', async () => {
  const org = await orgWithUrl('/inline-500');
  receiver.respond = () => ({ status: 500, body: 'down' });
  const before = receiver.forPath('/inline-500').length;

  const { result, send, handle } = await sendInline(org.organizationId);
  expect(result.outcome).toBe('retrying');
  expect(await handle.result()).toBe('failed');
  const view = (await getDeliveryView(db, org.organizationId, result.deliveryId))!;
  expect(view).toMatchObject({ status: 'failed', attemptCount: 10, series: 1, nextAttemptAt: null });
  expect(view.attempts.map((a) => [a.series, a.attemptNo, a.statusCode])).toEqual(Array.from({ length: 10 }, (_, i) => [1, i + 1, 500]));
  expectGaps(gapsOf(view.attempts), SCHEDULE);
  expect(receiver.forPath('/inline-500').length - before).toBe(10);
  expect(new Set(receiver.forPath('/inline-500').slice(before).map((r) => r.headers['webhook-id']))).toEqual(new Set([view.webhookId]));
  const timers = ((await handle.fetchHistory()).events ?? [])
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
  expect(timers).toEqual(SCHEDULE);
  const exhausted = await db('audit_events').where({ organization_id: org.organizationId, resource_id: result.deliveryId });
  expect(exhausted.map((e) => [e.action, e.changes.attempts])).toEqual([['webhook_delivery.exhausted', 10]]);

  // The activity retried (a worker crash after its work): nothing is sent or started again.
  expect(await send()).toEqual({ deliveryId: result.deliveryId, outcome: 'retrying' });
  expect(receiver.forPath('/inline-500').length - before).toBe(10);
});

test('an inline first attempt answered 410 ends the delivery, audited, with no workflow; a retry of the activity sends nothing', async () => {
  const org = await orgWithUrl('/inline-gone');
  receiver.respond = () => ({ status: 410, body: 'endpoint removed' });
  const before = receiver.forPath('/inline-gone').length;
  const { result, send, handle } = await sendInline(org.organizationId);
  expect(result.outcome).toBe('failed');
  await expect(handle.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect((await getDeliveryView(db, org.organizationId, result.deliveryId))!).toMatchObject({ status: 'failed', attemptCount: 1 });
  expect(await send()).toEqual(result);
  expect(receiver.forPath('/inline-gone').length - before).toBe(1);
  const events = await db('audit_events').where({ organization_id: org.organizationId, resource_id: result.deliveryId });
  expect(events.map((e) => e.action)).toEqual(['webhook_delivery.gone']);
});

test('Retry-After on 429 and 503 lengthens a wait but never shortens one', async () => {
  const org = await orgWithUrl('/busy');
  let calls = 0;
  receiver.respond = (req) => {
    if (req.path !== '/busy') return { status: 200 };
    calls += 1;
    if (calls === 1) return { status: 429, headers: { 'retry-after': '3600' }, body: 'slow down' }; // schedule says 5 s
    if (calls === 2) return { status: 503, headers: { 'retry-after': '60' } }; // schedule says 300 s
    return { status: 200 };
  };
  const { result, view } = await deliverOnce(org.organizationId);
  expect(result).toBe('succeeded');
  expect(view.attempts.map((a) => [a.outcome, a.statusCode])).toEqual([
    ['failure', 429],
    ['failure', 503],
    ['success', 200],
  ]);
  expectGaps(gapsOf(view.attempts), [3600, 300]);
});

test('410 Gone stops the retries at once: one attempt, delivery failed, audited', async () => {
  const org = await orgWithUrl('/gone');
  receiver.respond = () => ({ status: 410, body: 'endpoint removed' });
  const before = receiver.forPath('/gone').length;
  const { deliveryId, result, view } = await deliverOnce(org.organizationId);
  expect(result).toBe('failed');
  expect(view).toMatchObject({ status: 'failed', attemptCount: 1 });
  expect(view.attempts).toEqual([expect.objectContaining({ outcome: 'failure', statusCode: 410, responseBody: 'endpoint removed' })]);
  expect(receiver.forPath('/gone').length - before).toBe(1);
  const events = await db('audit_events').where({ resource_id: deliveryId });
  expect(events.map((e) => e.action)).toEqual(['webhook_delivery.gone']);
});

test('a 3xx is a failure and its Location is not followed; the next attempt succeeds', async () => {
  const org = await orgWithUrl('/moved');
  let calls = 0;
  receiver.respond = (req) =>
    req.path === '/moved' && ++calls === 1 ? { status: 302, headers: { location: `${receiver.url}/elsewhere` } } : { status: 200 };
  const { result, view } = await deliverOnce(org.organizationId);
  expect(result).toBe('succeeded');
  expect(view.attempts.map((a) => [a.outcome, a.statusCode, a.error])).toEqual([
    ['failure', 302, 'redirect not followed (302)'],
    ['success', 200, null],
  ]);
  expect(receiver.forPath('/elsewhere')).toHaveLength(0);
  expectGaps(gapsOf(view.attempts), [5]);
});

test('a receiver that hangs is cut off at the default 15 s; the next attempt succeeds', async () => {
  expect(config.WEBHOOK_TIMEOUT_MS).toBe(15_000);
  const org = await orgWithUrl('/hang');
  let calls = 0;
  receiver.respond = (req) => (req.path === '/hang' && ++calls === 1 ? 'hang' : { status: 200 });
  const { result, view } = await deliverOnce(org.organizationId);
  expect(result).toBe('succeeded');
  const [first, second] = view.attempts;
  expect(first).toMatchObject({ outcome: 'failure', statusCode: null, error: 'timed out after 15000 ms', responseBody: null });
  expect(first.durationMs).toBeGreaterThanOrEqual(15_000);
  expect(second).toMatchObject({ attemptNo: 2, outcome: 'success', statusCode: 200 });
}, 300_000);

test('a wrong URL fixed between retries is used by the very next attempt', async () => {
  const org = await orgWithUrl('/wrong');
  receiver.respond = (req) => (req.path === '/wrong' ? { status: 404, body: 'no such hook' } : { status: 200 });
  const before = receiver.requests.length;
  const { deliveryId, handle } = await dispatch(org.organizationId);

  // Attempt 1 right away; then let the 5 s wait pass for attempt 2. Time stands still
  // otherwise, so the fix below lands well inside the 300 s wait that follows.
  await receiver.waitForRequests(before + 1);
  await env.sleep(5_000);
  await receiver.waitForRequests(before + 2);
  await updateSettings(db, org.organizationId, { sessionEndWebhookUrl: `${receiver.url}/right` });

  expect(await handle.result()).toBe('succeeded');
  const view = (await getDeliveryView(db, org.organizationId, deliveryId))!;
  expect(view.attempts.map((a) => [a.attemptNo, new URL(a.url!).pathname, a.outcome, a.statusCode])).toEqual([
    [1, '/wrong', 'failure', 404],
    [2, '/wrong', 'failure', 404],
    [3, '/right', 'success', 200],
  ]);
  expectGaps(gapsOf(view.attempts), [5, 300]);
  const ids = receiver.requests.slice(before).map((r) => r.headers['webhook-id']);
  expect(new Set(ids)).toEqual(new Set([view.webhookId]));
});

test('after a rotation both secrets verify for 24 h, then only the new one', async () => {
  const org = await orgWithUrl('/rotation');
  const oldSecret = await currentWebhookSecret(db, MasterKeys.fromConfig(config), org.organizationId);
  const rotatedAt = await env.currentTimeMs();
  const rotated = await rotateWebhookSecret(db, MasterKeys.fromConfig(config), config.AUDIT_HMAC_KEY, {
    organizationId: org.organizationId,
    actor: { type: 'operator', id: org.adminId, label: 'admin' },
    now: new Date(rotatedAt),
  });
  expect(rotated.secret).not.toBe(oldSecret);
  expect(Date.parse(rotated.previousSecretExpiresAt!) - rotatedAt).toBe(24 * HOUR_MS);

  // Time moves only when told to here (no awaited results until the end): each first
  // attempt goes out at once, and the server's clock is read as the request arrives.
  const receive = async () => {
    const count = receiver.forPath('/rotation').length;
    const before = receiver.requests.length;
    const { sessionId } = await dispatch(org.organizationId);
    await receiver.waitForRequests(before + 1);
    const req = receiver.forPath('/rotation')[count];
    expect(JSON.parse(req.body)).toEqual({ sessionId, newStatus: 'verify' });
    return { req, receivedAt: await env.currentTimeMs() };
  };
  const during = await receive();
  await env.sleep(24 * HOUR_MS + 60_000);
  const after = await receive();

  // The receiver's clock agrees with the sender's: the server's time, not this machine's.
  const verifyAt = (at: number, secret: string, req: typeof during.req) => {
    const now = jest.spyOn(Date, 'now').mockReturnValue(at);
    try {
      return verifyWithStandardWebhooks(secret, req);
    } finally {
      now.mockRestore();
    }
  };

  const duringSent = Number(during.req.headers['webhook-timestamp']) * 1000;
  expect(duringSent - rotatedAt).toBeLessThan(24 * HOUR_MS);
  expect(String(during.req.headers['webhook-signature']).split(' ')).toHaveLength(2);
  expect(verifyAt(during.receivedAt, oldSecret, during.req)).toEqual(JSON.parse(during.req.body));
  expect(verifyAt(during.receivedAt, rotated.secret, during.req)).toEqual(JSON.parse(during.req.body));

  const afterSent = Number(after.req.headers['webhook-timestamp']) * 1000;
  expect(afterSent - rotatedAt).toBeGreaterThan(24 * HOUR_MS);
  expect(String(after.req.headers['webhook-signature']).split(' ')).toHaveLength(1);
  expect(verifyAt(after.receivedAt, rotated.secret, after.req)).toEqual(JSON.parse(after.req.body));
  expect(() => verifyAt(after.receivedAt, oldSecret, after.req)).toThrow(WebhookVerificationError);
  expect(() => verifyAt(after.receivedAt, oldSecret, after.req)).toThrow('No matching signature found');
});
