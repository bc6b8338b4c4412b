import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { sendWebhookRequest } from '../../src/webhooks/sendWebhookRequest';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { newOrganization, startSystem, TestSystem } from '../support/system';

// The session-end webhook tells what the completion decided, even when an analyst's decision
// lands between the completion and the webhook's dispatch (the worker died in between, and the
// session's run carries on from its record): the payload is the completion's snapshot.
let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

test('a decision recorded between completion and the session_end dispatch does not change the session_end payload', async () => {
  const org = await newOrganization(sys.db);
  const s = await createSessionAt(sessionDeps(sys.db, sys.client, sys.config.TEMPORAL_TASK_QUEUE), org.organizationId, {});
  // The activities are driven directly, in the order of the crash; the workflow stays out.
  await sys.client.workflow.getHandle(`session-${s.id}`).terminate('test drives the activities directly');
  const analysisId = randomUUID();
  await sys.db('analyses').insert({ id: analysisId, organization_id: org.organizationId, session_id: s.id, entity_id: s.entityId, kind: 'id', status: 'verify' });
  await sys.db('sessions').where({ id: s.id }).update({ status: 'in_progress' });
  const acts = createActivities({ db: sys.db, keys: sys.keys, temporal: sys.client, send: sendWebhookRequest, config: sys.config });
  const env = new MockActivityEnvironment({ taskQueue: sys.config.TEMPORAL_TASK_QUEUE });
  const run = <A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> => env.run(fn, a) as Promise<R>;

  const completed = await run(acts.completeSession, { sessionId: s.id });
  expect(completed.verdict).toBe('verify');
  const decided = await run(acts.recordDecision, {
    decision: { analysisId, newStatus: 'user_rejected' as const, operatorId: org.adminId },
    decisionKey: `${s.id}:update:${randomUUID()}`,
    organizationId: org.organizationId,
    scope: { sessionId: s.id },
    outbox: true,
  });
  expect(decided.outcome).toMatchObject({ accepted: true, changed: true });
  // The session's run, restarted from its record, dispatches with what the record says now.
  const row = await sys.db('sessions').where({ id: s.id }).first('verdict');
  expect(row.verdict).toBe('user_rejected');
  const { deliveryId } = await run(acts.dispatchWebhook, {
    organizationId: org.organizationId,
    event: 'session_end' as const,
    eventKey: `session_end:${s.id}`,
    sessionId: s.id,
    analysisId: null,
    payload: { sessionId: s.id, newStatus: row.verdict },
  });

  const deliveries = await sys.db('webhook_deliveries').where({ session_id: s.id, event: 'session_end' });
  expect(deliveries).toHaveLength(1);
  expect(deliveries[0].id).toBe(deliveryId);
  expect(deliveries[0].payload).toEqual({ sessionId: s.id, newStatus: 'verify' });
});
