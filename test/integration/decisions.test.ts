import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { chainPending } from '../../src/audit/ledger';
import { setStartDeadline } from '../../src/temporal/deadlines';
import { sessionWorkflowId } from '../../workflows/definitions';
import { readHistory, unencryptedPayloads } from '../support/history';
import { WebhookReceiver } from '../support/receiver';
import { addOperator, call, newOrganization, startSystem, TestSystem, waitUntil } from '../support/system';
import { deliveryResult, hasDeliveryWorkflow, sessionEndDelivery } from '../support/webhooks';

// Analysts' decisions, through the API and through the `temporal` CLI, on the dev server:
// the webhook, the analysis, the session verdict and the ledger must agree.
let sys: TestSystem;
let receiver: WebhookReceiver;
let injectedFailures = 0;
/** While set, recording a decision waits for it: the API's wait for the update runs out first. */
let decisionsHeld: Promise<void> | null = null;

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  sys = await startSystem(
    {},
    {
      // Fault injection: the recording activity fails right AFTER its transaction committed,
      // as a worker crash would, when a test arms it.
      wrapActivities: (acts) => ({
        ...acts,
        recordDecision: async (input) => {
          await decisionsHeld;
          const result = await acts.recordDecision(input);
          if (injectedFailures > 0) {
            injectedFailures--;
            throw new Error('injected failure after the decision was written');
          }
          return result;
        },
      }),
    },
  );
});
afterAll(async () => {
  await sys?.stop();
  await receiver?.stop();
});

async function completedSessionWithAnalysis(path: string) {
  const org = await newOrganization(sys.db);
  await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { decisionWebhookUrl: receiver.url + path } });
  const session = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: 'TEST-123456' } });
  const analysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${session.body.id}/analyses`, {
    token: org.apiKey,
    body: { kind: 'id_document', status: 'verify' },
  });
  return { org, session: session.body, analysis: analysis.body, link: new URL(session.body.link.url).pathname };
}

const decisionEvents = (organizationId: string) =>
  sys.db('audit_events').where({ organization_id: organizationId, action: 'analysis.decision' }).orderBy('append_order');

test('a session-end receiver that hangs holds back neither an analyst decision nor its webhook: first attempts run beside the session loop', async () => {
  const { org, session, analysis, link } = await completedSessionWithAnalysis('/beside');
  await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionEndWebhookUrl: `${receiver.url}/hanging-end` } });
  receiver.respond = (req) => (req.path === '/hanging-end' ? 'hang' : { status: 200, body: 'ok' });
  let sessionEndId: string;
  try {
    expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
    await receiver.waitForPath('/hanging-end');
    const decided = await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, { token: org.adminToken, body: { newStatus: 'user_rejected' } });
    expect(decided.status).toBe(200);
    await receiver.waitForPath('/beside');
    // Decided and its webhook received while the session-end request is still unanswered.
    expect(receiver.hangingCount).toBe(1);
    sessionEndId = (await sessionEndDelivery(sys.db, org.organizationId, session.id)).id;
    expect(await sys.db('webhook_attempts').where({ delivery_id: sessionEndId })).toEqual([]);
  } finally {
    receiver.respond = () => ({ status: 200, body: 'ok' });
    receiver.releaseHanging(200);
  }
  // Released, the session-end delivery ends at its first attempt, with no workflow of its own.
  expect(await deliveryResult(sys.client, sys.db, sessionEndId)).toBe('succeeded');
  expect(await hasDeliveryWorkflow(sys.client, sessionEndId)).toBe(false);
});

test('a REST decision sends the seed-shaped decision webhook; analysis, verdict and ledger agree', async () => {
  const { org, session, analysis, link } = await completedSessionWithAnalysis('/rest');
  const early = await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, {
    token: org.adminToken,
    body: { newStatus: 'user_approved' },
  });
  expect(early.status).toBe(409);
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);

  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const decided = await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, {
    token: analyst.token,
    body: { newStatus: 'user_approved', comment: 'documents match the selfie' },
  });
  expect(decided.status).toBe(200);
  expect(decided.body).toEqual({ analysisId: analysis.id, newStatus: 'user_approved', decidedAt: expect.any(String), decidedBy: analyst.id });

  const [hook] = await receiver.waitForPath('/rest');
  expect(hook.body).toBe(
    JSON.stringify({ analysisId: analysis.id, entityId: session.entityId, correlationId: 'TEST-123456', sessionId: session.id, newStatus: 'user_approved' }),
  );
  const { body: secret } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  expect(() =>
    new Webhook(secret.secret).verify(hook.body, {
      'webhook-id': String(hook.headers['webhook-id']),
      'webhook-timestamp': String(hook.headers['webhook-timestamp']),
      'webhook-signature': String(hook.headers['webhook-signature']),
    }),
  ).not.toThrow();

  expect((await call(sys.baseUrl, 'GET', `/v1/analyses/${analysis.id}`, { token: org.apiKey })).body).toMatchObject({
    status: 'user_approved',
    decidedBy: analyst.id,
  });
  expect((await call(sys.baseUrl, 'GET', `/v1/sessions/${session.id}`, { token: org.apiKey })).body.verdict).toBe('user_approved');
  const events = await decisionEvents(org.organizationId);
  // The early 409 was refused by the API before reaching the workflow: one event, the decision.
  expect(events.map((e) => [e.outcome, e.actor_type, e.actor_id, e.resource_id])).toEqual([['success', 'operator', analyst.id, analysis.id]]);
  expect(events[0].changes).toMatchObject({ status: { before: 'verify', after: 'user_approved' } });
  // The comment is kept with the analysis, never in the ledger or the workflow history.
  expect(JSON.stringify(events[0])).not.toContain('selfie');
  // Decoded with the project's codec: the webhook payload (with the correlation id) and the
  // comment stayed out of every input, result and update of the session's workflow.
  const history = await readHistory(sys.client, sessionWorkflowId(session.id), sys.keys);
  expect(unencryptedPayloads(history)).toEqual([]);
  for (const marker of ['selfie', 'TEST-123456']) {
    expect(history.storedText).not.toContain(marker);
    expect(history.decodedText).not.toContain(marker);
  }
  expect(await sys.db('decision_comments').where({ analysis_id: analysis.id }).pluck('comment')).toEqual(['documents match the selfie']);

  // The same decision again changes nothing and sends nothing.
  const again = await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, { token: analyst.token, body: { newStatus: 'user_approved' } });
  expect(again.status).toBe(200);
  expect(await sys.db('webhook_deliveries').where({ analysis_id: analysis.id, event: 'decision' })).toHaveLength(1);
});

test('the analystDecision signal sent with the temporal CLI is recorded like a REST decision', async () => {
  const { org, session, analysis, link } = await completedSessionWithAnalysis('/cli');
  await call(sys.baseUrl, 'POST', `${link}/complete`);
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  await promisify(execFile)(process.env.TEMPORAL_CLI_PATH!, [
    'workflow', 'signal',
    '--address', process.env.TEMPORAL_ADDRESS!,
    '--namespace', 'default',
    '--workflow-id', sessionWorkflowId(session.id),
    '--name', 'analystDecision',
    '--input', JSON.stringify({ analysisId: analysis.id, newStatus: 'user_rejected', operatorId: analyst.id, comment: 'blurry' }),
  ]);
  const [hook] = await receiver.waitForPath('/cli');
  expect(JSON.parse(hook.body)).toEqual({
    analysisId: analysis.id,
    entityId: session.entityId,
    correlationId: 'TEST-123456',
    sessionId: session.id,
    newStatus: 'user_rejected',
  });
  const stored = await sys.db('analyses').where({ id: analysis.id }).first();
  expect(stored).toMatchObject({ status: 'user_rejected', decided_by: analyst.id });
  expect((await sys.db('sessions').where({ id: session.id }).first()).verdict).toBe('user_rejected');
  const [event] = await decisionEvents(org.organizationId);
  expect(event).toMatchObject({ outcome: 'success', actor_id: analyst.id, resource_id: analysis.id });
  expect(event.changes).toMatchObject({ source: 'temporal', via: 'temporal', status: { before: 'verify', after: 'user_rejected' } });
  // The typed comment is in the signal the operator sent, nowhere after (only its id continues):
  // the activity that stores it runs as a local activity (PATCHES.light), whose input the
  // history does not keep (before, it was also in that activity's ActivityTaskScheduled). The
  // correlation id is nowhere.
  const history = await readHistory(sys.client, sessionWorkflowId(session.id), sys.keys);
  const withComment = history.payloads.filter((p) => JSON.stringify(p.value ?? null).includes('blurry'));
  expect(withComment.map((p) => p.eventType)).toEqual(['workflowExecutionSignaled']);
  expect(history.decodedText).not.toContain('TEST-123456');
  expect(await sys.db('decision_comments').where({ analysis_id: analysis.id }).pluck('comment')).toEqual(['blurry']);
});

test.each([
  ['an auditor', 'auditor', 'operator_not_allowed'],
  ['an unknown operator', 'unknown', 'operator_not_allowed'],
  ['an analysis of another workflow', 'other-analysis', 'analysis_not_found'],
  ['a malformed payload', 'malformed', 'invalid_input'],
])('a signal from %s is refused and audited with outcome failure', async (_label, kind, reason) => {
  const { org, session, analysis, link } = await completedSessionWithAnalysis(`/refused-${kind}`);
  await call(sys.baseUrl, 'POST', `${link}/complete`);
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const otherSession = await completedSessionWithAnalysis('/elsewhere');
  const input = {
    auditor: { analysisId: analysis.id, newStatus: 'user_approved', operatorId: auditor.id },
    unknown: { analysisId: analysis.id, newStatus: 'user_approved', operatorId: '00000000-0000-4000-8000-000000000000' },
    'other-analysis': { analysisId: otherSession.analysis.id, newStatus: 'user_approved', operatorId: analyst.id },
    malformed: { analysisId: analysis.id, newStatus: 'approved!', operatorId: analyst.id },
  }[kind]!;
  await sys.client.workflow.getHandle(sessionWorkflowId(session.id)).signal('analystDecision', input);
  const [event] = await waitUntil(() => decisionEvents(org.organizationId), (e) => e.length === 1);
  expect(event).toMatchObject({ outcome: 'failure', category: 'decision' });
  expect(event.changes).toMatchObject({ reason });
  expect((await sys.db('analyses').where({ id: analysis.id }).first()).status).toBe('verify');
  expect((await sys.db('analyses').where({ id: otherSession.analysis.id }).first()).status).toBe('verify');
  expect(await sys.db('webhook_deliveries').where({ organization_id: org.organizationId, event: 'decision' })).toHaveLength(0);
});

test('a decision activity retried after a crash leaves one ledger event and one webhook', async () => {
  const { org, analysis, link } = await completedSessionWithAnalysis('/retried');
  await call(sys.baseUrl, 'POST', `${link}/complete`);
  injectedFailures = 1;
  const decided = await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, { token: org.adminToken, body: { newStatus: 'user_rejected' } });
  expect(decided.status).toBe(200);
  expect(injectedFailures).toBe(0); // the failure did happen, and the retry answered
  const events = await decisionEvents(org.organizationId);
  expect(events).toHaveLength(1);
  expect(await sys.db('webhook_deliveries').where({ analysis_id: analysis.id, event: 'decision' })).toHaveLength(1);
  await receiver.waitForPath('/retried');
  await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId);
  const seqs = (await sys.db('audit_events').where({ organization_id: org.organizationId }).orderBy('seq').pluck('seq')).map(Number);
  expect(seqs).toEqual(seqs.map((_s, i) => i + 1));
});

test('a decision retried with its Idempotency-Key after a 503 is recorded once, and the retry answers with the first outcome', async () => {
  const { org, analysis, link } = await completedSessionWithAnalysis('/retried');
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const path = `/v1/analyses/${analysis.id}/decision`;
  const request = { token: analyst.token, body: { newStatus: 'user_rejected', comment: 'selfie does not match' }, headers: { 'idempotency-key': 'click-1' } };

  // The recording waits until the API has given up on the update (a short deadline for this
  // one request): the analyst gets a 503, yet the decision is on its way in the workflow.
  let release!: () => void;
  decisionsHeld = new Promise((resolve) => (release = resolve));
  setStartDeadline(sys.client, 1_000);
  let first: Awaited<ReturnType<typeof call>>;
  try {
    first = await call(sys.baseUrl, 'POST', path, request);
  } finally {
    setStartDeadline(sys.client, Number(sys.config.TEMPORAL_START_DEADLINE_MS));
    release();
    decisionsHeld = null;
  }
  expect(first.status).toBe(503);
  await waitUntil(() => decisionEvents(org.organizationId), (events) => events.length > 0);

  // The analyst retries: the same update, answered with the outcome the first one had.
  const retry = await call(sys.baseUrl, 'POST', path, request);
  expect(retry.status).toBe(200);
  const [event] = await decisionEvents(org.organizationId);
  expect(retry.body).toEqual({ analysisId: analysis.id, newStatus: 'user_rejected', decidedAt: event.occurred_at.toISOString(), decidedBy: analyst.id });
  // Once answered, the key replays the stored response.
  const replay = await call(sys.baseUrl, 'POST', path, request);
  expect([replay.status, replay.headers.get('idempotent-replayed'), replay.body]).toEqual([200, 'true', retry.body]);
  // The same key for another decision, or for another analysis, is refused.
  expect((await call(sys.baseUrl, 'POST', path, { ...request, body: { newStatus: 'user_approved' } })).status).toBe(422);
  const otherSession = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: 'TEST-654321' } });
  const otherAnalysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${otherSession.body.id}/analyses`, { token: org.apiKey, body: { kind: 'id_document', status: 'verify' } });
  expect((await call(sys.baseUrl, 'POST', `/v1/analyses/${otherAnalysis.body.id}/decision`, request)).status).toBe(422);

  await receiver.waitForPath('/retried');
  expect(await decisionEvents(org.organizationId)).toHaveLength(1);
  expect(await sys.db('decision_comments').where({ analysis_id: analysis.id }).pluck('comment')).toEqual(['selfie does not match']);
  const hooks = await sys.db('webhook_deliveries').where({ organization_id: org.organizationId, event: 'decision' });
  expect(hooks).toHaveLength(1);
});

test('roles and organizations: auditor 403, another organization 404, unknown analysis 404', async () => {
  const { org, analysis, link } = await completedSessionWithAnalysis('/roles');
  await call(sys.baseUrl, 'POST', `${link}/complete`);
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  const other = await newOrganization(sys.db, 'Other');
  const body = { newStatus: 'user_approved' };
  expect((await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, { token: auditor.token, body })).status).toBe(403);
  expect((await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, { token: org.apiKey, body })).status).toBe(403);
  expect((await call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.id}/decision`, { token: other.adminToken, body })).status).toBe(404);
  expect((await call(sys.baseUrl, 'GET', `/v1/analyses/${analysis.id}`, { token: other.apiKey })).status).toBe(404);
  expect(
    (await call(sys.baseUrl, 'POST', `/v1/analyses/00000000-0000-4000-8000-000000000000/decision`, { token: org.adminToken, body })).status,
  ).toBe(404);
  expect((await sys.db('analyses').where({ id: analysis.id }).first()).status).toBe('verify');
});

test('a standalone analysis has its own workflow; its decision webhook has sessionId null', async () => {
  const org = await newOrganization(sys.db);
  await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { decisionWebhookUrl: `${receiver.url}/standalone` } });
  const created = await call(sys.baseUrl, 'POST', '/v1/analyses', {
    token: org.apiKey,
    body: { entity: { type: 'company' }, correlationId: 'CO-9', kind: 'kbis', status: 'ai_approved' },
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ sessionId: null, status: 'ai_approved', correlationId: 'CO-9' });
  const decided = await call(sys.baseUrl, 'POST', `/v1/analyses/${created.body.id}/decision`, {
    token: org.adminToken,
    body: { newStatus: 'user_rejected' },
  });
  expect(decided.status).toBe(200);
  const [hook] = await receiver.waitForPath('/standalone');
  expect(hook.body).toBe(
    JSON.stringify({ analysisId: created.body.id, entityId: created.body.entityId, correlationId: 'CO-9', sessionId: null, newStatus: 'user_rejected' }),
  );
  const created2 = await call(sys.baseUrl, 'POST', '/v1/analyses', {
    token: org.apiKey,
    body: { entityId: created.body.entityId, kind: 'ubo', status: 'verify' },
  });
  expect(created2.body.entityId).toBe(created.body.entityId);
  const headers = { 'idempotency-key': 'standalone-once' };
  const body = { entityId: created.body.entityId, kind: 'pep', status: 'verify' };
  const first = await call(sys.baseUrl, 'POST', '/v1/analyses', { token: org.apiKey, headers, body });
  const replay = await call(sys.baseUrl, 'POST', '/v1/analyses', { token: org.apiKey, headers, body });
  expect(replay.body).toEqual(first.body);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  const both = await call(sys.baseUrl, 'POST', '/v1/analyses', {
    token: org.apiKey,
    body: { entityId: created.body.entityId, entity: { type: 'person' }, kind: 'ubo', status: 'verify' },
  });
  expect(both.status).toBe(400);
});
