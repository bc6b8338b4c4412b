import { WorkflowNotFoundError } from '@temporalio/client';
import { sessionWorkflowId, webhookWorkflowId } from '../../workflows/definitions';
import { WebhookReceiver } from '../support/receiver';
import { defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec } from '../../src/payloads/codec';
import { addOperator, call, newOrganization, startSystem, TEST_AUDIT_KEY, TestSystem } from '../support/system';
import { deliveryResult, hasDeliveryWorkflow, sessionEndDelivery, verifyWithStandardWebhooks } from '../support/webhooks';
import { activeWebhookSecrets, SECRET_OVERLAP_MS } from '../../src/settings/settings';
import { deleteExpiredWebhookSecrets, rotateWebhookSecret } from '../../src/webhooks/secretRotation';

// The delivery log, redelivery, test sends and secret rotation through the REST API, on the
// real Temporal dev server, PostgreSQL and a receiver on 127.0.0.1 (schedule 1 s, 1 s, 1 s).
let sys: TestSystem;
let receiver: WebhookReceiver;

beforeAll(async () => {
  sys = await startSystem();
  receiver = await new WebhookReceiver().start();
});
afterAll(async () => {
  await receiver?.stop();
  await sys?.stop();
});
afterEach(() => {
  receiver.respond = () => ({ status: 200, body: 'ok' });
});

type Org = Awaited<ReturnType<typeof newOrganization>>;

async function orgWithWebhook(path: string | null): Promise<Org> {
  const org = await newOrganization(sys.db);
  if (path !== null) {
    const patched = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionEndWebhookUrl: receiver.url + path } });
    expect(patched.status).toBe(200);
  }
  return org;
}

/** Creates and completes a session over REST; returns its id and its delivery's id once that delivery has ended. */
async function completedSession(org: Org): Promise<{ sessionId: string; deliveryId: string; result: string }> {
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  expect(created.status).toBe(201);
  expect((await call(sys.baseUrl, 'POST', `${new URL(created.body.link.url).pathname}/complete`)).status).toBe(202);
  const { id: deliveryId } = await sessionEndDelivery(sys.db, org.organizationId, created.body.id);
  const result = await deliveryResult(sys.client, sys.db, deliveryId);
  return { sessionId: created.body.id, deliveryId, result };
}

const auditOf = (organizationId: string, action: string) => sys.db('audit_events').where({ organization_id: organizationId, action }).orderBy('append_order');

test('with no URL configured the delivery is recorded as skipped, and can be redelivered once a URL is set', async () => {
  const org = await orgWithWebhook(null);
  const { deliveryId, result } = await completedSession(org);
  expect(result).toBe('skipped');
  const log = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries/${deliveryId}`, { token: org.adminToken });
  expect(log.body).toMatchObject({ status: 'skipped', attemptCount: 1 });
  expect(log.body.attempts).toEqual([
    expect.objectContaining({ series: 1, attemptNo: 1, outcome: 'skipped', url: null, statusCode: null, error: 'no webhook URL configured' }),
  ]);

  await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionEndWebhookUrl: `${receiver.url}/late` } });
  const redelivered = await call(sys.baseUrl, 'POST', `/v1/webhook-deliveries/${deliveryId}/redeliver`, { token: org.adminToken });
  expect(redelivered.status).toBe(202);
  expect(await sys.client.workflow.getHandle(webhookWorkflowId(deliveryId, 2)).result()).toBe('succeeded');
  const [late] = receiver.forPath('/late');
  expect(late.headers['webhook-id']).toBe(log.body.webhookId);
});

test('the delivery log lists deliveries newest first with their attempts, filters and a cursor; admins and auditors only', async () => {
  const org = await orgWithWebhook('/log');
  let calls = 0;
  receiver.respond = (req) => (req.path === '/log' && ++calls === 1 ? { status: 503, body: 'x'.repeat(3000) } : { status: 204 });
  const sessions = [];
  for (let i = 0; i < 3; i++) sessions.push(await completedSession(org));
  expect(sessions.map((s) => s.result)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');

  const all = await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries', { token: auditor.token });
  expect(all.status).toBe(200);
  expect(all.body.nextCursor).toBeNull();
  expect(all.body.data.map((d: { sessionId: string }) => d.sessionId)).toEqual(sessions.map((s) => s.sessionId).reverse());
  const first = all.body.data[2];
  expect(first).toMatchObject({
    id: sessions[0].deliveryId,
    event: 'session_end',
    status: 'succeeded',
    webhookId: `msg_${sessions[0].deliveryId.replace(/-/g, '')}`,
    sessionId: sessions[0].sessionId,
    analysisId: null,
    payload: { sessionId: sessions[0].sessionId, newStatus: 'verify' },
    attemptCount: 2,
    series: 1,
    nextAttemptAt: null,
  });
  expect(first.attempts).toHaveLength(2);
  expect(first.attempts[0]).toMatchObject({ series: 1, attemptNo: 1, url: `${receiver.url}/log`, outcome: 'failure', statusCode: 503, error: 'HTTP 503' });
  expect(Buffer.byteLength(first.attempts[0].responseBody)).toBe(1024); // the first KiB only
  expect(first.attempts[0].durationMs).toEqual(expect.any(Number));
  expect(Date.parse(first.attempts[1].attemptedAt)).toBeGreaterThan(Date.parse(first.attempts[0].attemptedAt));
  expect(first.attempts[1]).toMatchObject({ attemptNo: 2, outcome: 'success', statusCode: 204, error: null, responseBody: '' });

  // Cursor pagination walks every delivery once.
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: { data: { id: string }[]; nextCursor: string | null } } = await call(
      sys.baseUrl,
      'GET',
      `/v1/webhook-deliveries?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      { token: org.adminToken },
    );
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeLessThanOrEqual(2);
    seen.push(...res.body.data.map((d) => d.id));
    cursor = res.body.nextCursor;
  } while (cursor);
  expect(seen).toEqual(all.body.data.map((d: { id: string }) => d.id));

  const bySession = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries?sessionId=${sessions[1].sessionId}`, { token: org.adminToken });
  expect(bySession.body.data.map((d: { id: string }) => d.id)).toEqual([sessions[1].deliveryId]);
  const filtered = await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries?event=session_end&status=succeeded', { token: org.adminToken });
  expect(filtered.body.data).toHaveLength(3);
  expect((await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries?status=failed', { token: org.adminToken })).body.data).toEqual([]);
  expect((await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries?event=decision', { token: org.adminToken })).body.data).toEqual([]);

  // Another organization sees none of it.
  const other = await newOrganization(sys.db);
  expect((await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries', { token: other.adminToken })).body.data).toEqual([]);
  expect((await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries/${sessions[0].deliveryId}`, { token: other.adminToken })).status).toBe(404);

  // Roles and bad input.
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  expect((await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries', { token: analyst.token })).status).toBe(403);
  expect((await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries', { token: org.apiKey })).status).toBe(403);
  expect((await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries')).status).toBe(401);
  for (const [query, path] of [
    ['limit=0', 'query.limit'],
    ['limit=201', 'query.limit'],
    ['status=lost', 'query.status'],
    ['event=ping', 'query.event'],
    ['sessionId=42', 'query.sessionId'],
    ['cursor=not-a-cursor', 'query.cursor'],
    ['colour=blue', 'query.colour'],
  ]) {
    const bad = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries?${query}`, { token: org.adminToken });
    expect({ query, status: bad.status, type: bad.headers.get('content-type') }).toEqual({
      query,
      status: 400,
      type: expect.stringContaining('application/problem+json'),
    });
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  }
  expect((await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries/not-a-uuid', { token: org.adminToken })).status).toBe(400);
});

test('a delivery that succeeds at its first attempt has no workflow of its own: the attempt is the session workflow\'s activity, with a summary', async () => {
  const org = await orgWithWebhook('/at-once');
  const { sessionId, deliveryId, result } = await completedSession(org);
  expect(result).toBe('succeeded');
  const log = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries/${deliveryId}`, { token: org.adminToken });
  expect(log.body).toMatchObject({ status: 'succeeded', attemptCount: 1, series: 1, nextAttemptAt: null });
  expect(log.body.attempts).toEqual([expect.objectContaining({ series: 1, attemptNo: 1, outcome: 'success', statusCode: 200 })]);
  const [hook] = receiver.forPath('/at-once');
  expect(hook.headers['webhook-id']).toBe(log.body.webhookId);
  expect(await hasDeliveryWorkflow(sys.client, deliveryId)).toBe(false);

  // In the Web UI the attempt is a step of `session-<id>`, named by its summary.
  const codec = new EncryptionCodec(sys.keys);
  const scheduled = ((await sys.client.workflow.getHandle(sessionWorkflowId(sessionId)).fetchHistory()).events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendWebhook',
  );
  expect(scheduled).toHaveLength(1);
  expect(defaultPayloadConverter.fromPayload(await codec.decodeOne(scheduled[0].userMetadata!.summary!))).toBe('session_end webhook: attempt 1');
});

test('a delivery that exhausts its retries is failed, visible in the log and audited once as a system action', async () => {
  const org = await orgWithWebhook('/exhaust');
  receiver.respond = (req) => (req.path === '/exhaust' ? { status: 500, body: 'nope' } : { status: 200 });
  const { deliveryId, result } = await completedSession(org);
  expect(result).toBe('failed');
  const failed = await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries?status=failed', { token: org.adminToken });
  expect(failed.body.data.map((d: { id: string }) => d.id)).toEqual([deliveryId]);
  expect(failed.body.data[0].attempts.map((a: { outcome: string; statusCode: number }) => [a.outcome, a.statusCode])).toEqual([
    ['failure', 500],
    ['failure', 500],
    ['failure', 500],
    ['failure', 500],
  ]);
  const events = await auditOf(org.organizationId, 'webhook_delivery.exhausted');
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ actor_type: 'system', actor_id: 'webhook-delivery', category: 'modification', resource_type: 'webhook_delivery', resource_id: deliveryId });

  // What an operator finds in the Temporal Web UI: attempt 1 was the session workflow's own
  // activity; its failure started the delivery's workflow, searchable by organization, with a
  // summary, and a timeline whose steps say which attempt or wait they are.
  const handle = sys.client.workflow.getHandle(webhookWorkflowId(deliveryId, 1));
  const described = await handle.describe();
  expect(described.type).toBe('webhookDelivery');
  expect(described.status.name).toBe('COMPLETED');
  expect((described.searchAttributes as Record<string, unknown[]>).OrganizationId).toEqual([org.organizationId]);
  expect(await described.staticSummary()).toMatch(/^session_end webhook for session [0-9a-f-]{36}: retries after attempt 1$/);
  // Summaries go through the payload codec like every payload: decode them as the UI does.
  const codec = new EncryptionCodec(sys.keys);
  const summaries = await Promise.all(
    ((await handle.fetchHistory()).events ?? [])
      .filter((e) => (e.activityTaskScheduledEventAttributes || e.timerStartedEventAttributes) && e.userMetadata?.summary?.data)
      .map(async (e) => defaultPayloadConverter.fromPayload(await codec.decodeOne(e.userMetadata!.summary!))),
  );
  expect(summaries).toEqual([
    'wait 1s before attempt 2',
    'attempt 2/4',
    'wait 1s before attempt 3',
    'attempt 3/4',
    'wait 1s before attempt 4',
    'attempt 4/4',
  ]);
});

test('redelivery reuses the webhook-id in a new attempt series; 409 while a series is pending; 404 for another organization', async () => {
  const org = await orgWithWebhook('/redeliver');
  const { deliveryId, result } = await completedSession(org);
  expect(result).toBe('succeeded');
  const url = `/v1/webhook-deliveries/${deliveryId}/redeliver`;

  // Series 2 fails for a few seconds (500, then retries at 1 s): a second request meanwhile is refused.
  receiver.respond = (req) => (req.path === '/redeliver' ? { status: 500 } : { status: 200 });
  const second = await call(sys.baseUrl, 'POST', url, { token: org.adminToken, headers: { 'user-agent': 'ops-console/1' } });
  expect(second.status).toBe(202);
  expect(second.body).toMatchObject({ id: deliveryId, status: 'pending', series: 2 });
  const busy = await call(sys.baseUrl, 'POST', url, { token: org.adminToken });
  expect(busy.status).toBe(409);
  expect(busy.headers.get('content-type')).toContain('application/problem+json');
  expect(busy.body.detail).toMatch(/still pending/);
  expect(await sys.client.workflow.getHandle(webhookWorkflowId(deliveryId, 2)).result()).toBe('failed');

  receiver.respond = () => ({ status: 200 });
  const third = await call(sys.baseUrl, 'POST', url, { token: org.adminToken });
  expect(third.status).toBe(202);
  expect(await sys.client.workflow.getHandle(webhookWorkflowId(deliveryId, 3)).result()).toBe('succeeded');

  const view = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries/${deliveryId}`, { token: org.adminToken });
  expect(view.body).toMatchObject({ status: 'succeeded', series: 3, attemptCount: 1 + 4 + 1 });
  expect(view.body.attempts.map((a: { series: number; attemptNo: number; outcome: string }) => [a.series, a.attemptNo, a.outcome])).toEqual([
    [1, 1, 'success'],
    [2, 1, 'failure'],
    [2, 2, 'failure'],
    [2, 3, 'failure'],
    [2, 4, 'failure'],
    [3, 1, 'success'],
  ]);
  const received = receiver.forPath('/redeliver');
  expect(received).toHaveLength(6);
  expect(new Set(received.map((r) => r.headers['webhook-id']))).toEqual(new Set([view.body.webhookId]));
  // The body is the same event each time: a receiver deduplicating by webhook-id loses nothing.
  expect(new Set(received.map((r) => r.body)).size).toBe(1);

  const audited = await auditOf(org.organizationId, 'webhook_delivery.redeliver');
  expect(audited).toHaveLength(2);
  expect(audited[0]).toMatchObject({ actor_type: 'operator', actor_id: org.adminId, resource_id: deliveryId, user_agent: 'ops-console/1' });
  expect(audited[0].request_id).toBe(second.headers.get('x-request-id'));
  expect(audited[0].changes).toEqual({ series: { before: 1, after: 2 }, status: { before: 'succeeded', after: 'pending' } });

  // Only the owning organization's admins.
  const other = await newOrganization(sys.db);
  expect((await call(sys.baseUrl, 'POST', url, { token: other.adminToken })).status).toBe(404);
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  expect((await call(sys.baseUrl, 'POST', url, { token: auditor.token })).status).toBe(403);
  expect((await call(sys.baseUrl, 'POST', url, { token: org.adminToken, body: { series: 9 } })).status).toBe(400);
  expect((await call(sys.baseUrl, 'POST', '/v1/webhook-deliveries/00000000-0000-4000-8000-000000000000/redeliver', { token: org.adminToken })).status).toBe(404);
  expect((await call(sys.baseUrl, 'GET', url, { token: org.adminToken })).status).toBe(405);
  // No series 4 was started by any of the refused calls.
  await expect(sys.client.workflow.getHandle(webhookWorkflowId(deliveryId, 4)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
});

test('a test send signs a sample now and returns the attempt; it is logged, audited, and needs a URL', async () => {
  const org = await orgWithWebhook('/test-send');
  const before = receiver.forPath('/test-send').length;
  const sent = await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: org.adminToken, body: { endpoint: 'session_end' } });
  expect(sent.status).toBe(200);
  expect(sent.body).toMatchObject({ endpoint: 'session_end', url: `${receiver.url}/test-send`, outcome: 'success', statusCode: 200, error: null, responseBody: 'ok' });
  expect(sent.body.durationMs).toEqual(expect.any(Number));
  expect(sent.body.webhookId).toBe(`msg_${sent.body.deliveryId.replace(/-/g, '')}`);

  const received = receiver.forPath('/test-send');
  expect(received).toHaveLength(before + 1);
  const req = received[before];
  expect(req.headers['webhook-id']).toBe(sent.body.webhookId);
  const { body: secret } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  expect(verifyWithStandardWebhooks(secret.secret, req)).toEqual({ sessionId: '00000000-0000-0000-0000-000000000000', newStatus: 'ai_approved' });

  const logged = await call(sys.baseUrl, 'GET', '/v1/webhook-deliveries?event=test', { token: org.adminToken });
  expect(logged.body.data).toHaveLength(1);
  expect(logged.body.data[0]).toMatchObject({ id: sent.body.deliveryId, event: 'test', status: 'succeeded', sessionId: null, attemptCount: 1 });
  const audited = await auditOf(org.organizationId, 'webhook.test');
  expect(audited).toHaveLength(1);
  expect(audited[0]).toMatchObject({ actor_type: 'operator', resource_id: sent.body.deliveryId });

  // A failing receiver: the answer says so, nothing is retried.
  receiver.respond = () => ({ status: 500, body: 'broken' });
  const failing = await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: org.adminToken, body: { endpoint: 'session_end' } });
  expect(failing.body).toMatchObject({ outcome: 'failure', statusCode: 500, error: 'HTTP 500', responseBody: 'broken' });
  expect(receiver.forPath('/test-send')).toHaveLength(before + 2);
  const failedLog = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries/${failing.body.deliveryId}`, { token: org.adminToken });
  expect(failedLog.body).toMatchObject({ status: 'failed', attemptCount: 1 });
  expect((await call(sys.baseUrl, 'POST', `/v1/webhook-deliveries/${failing.body.deliveryId}/redeliver`, { token: org.adminToken })).status).toBe(409);

  // The decision endpoint has no URL here: a clear 409; bad bodies are 400.
  const noUrl = await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: org.adminToken, body: { endpoint: 'decision' } });
  expect(noUrl.status).toBe(409);
  expect(noUrl.body.detail).toMatch(/decisionWebhookUrl/);
  for (const body of [{}, { endpoint: 'everything' }, { endpoint: 'session_end', extra: 1 }]) {
    const bad = await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: org.adminToken, body });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
  }
  expect((await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: org.adminToken, rawBody: '{"endpoint":' })).status).toBe(400);
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  expect((await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: auditor.token, body: { endpoint: 'session_end' } })).status).toBe(403);
});

test('rotating the secret: the next webhook carries two signatures, each verifying with standardwebhooks; audited with secrets masked', async () => {
  const org = await orgWithWebhook('/rotate');
  const { body: old } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  const rotated = await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: org.adminToken });
  expect(rotated.status).toBe(200);
  expect(rotated.headers.get('cache-control')).toBe('no-store');
  expect(rotated.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  expect(rotated.body.secret).not.toBe(old.secret);
  const overlapMs = Date.parse(rotated.body.previousSecretExpiresAt) - Date.parse(rotated.body.createdAt);
  expect(overlapMs).toBe(24 * 60 * 60 * 1000);
  const { body: current } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  expect(current.secret).toBe(rotated.body.secret);

  const { sessionId, result } = await completedSession(org);
  expect(result).toBe('succeeded');
  const [req] = receiver.forPath('/rotate');
  const signatures = String(req.headers['webhook-signature']).split(' ');
  expect(signatures).toHaveLength(2);
  expect(signatures.every((s) => s.startsWith('v1,'))).toBe(true);
  expect(verifyWithStandardWebhooks(old.secret, req)).toEqual({ sessionId, newStatus: 'verify' });
  expect(verifyWithStandardWebhooks(rotated.body.secret, req)).toEqual({ sessionId, newStatus: 'verify' });

  const [event] = await auditOf(org.organizationId, 'webhook_secret.rotate');
  expect(event).toMatchObject({ actor_type: 'operator', actor_id: org.adminId, category: 'modification', resource_type: 'webhook_secret' });
  const recorded = JSON.stringify(event.changes);
  expect(recorded).not.toContain(old.secret);
  expect(recorded).not.toContain(rotated.body.secret);
  expect(recorded).not.toContain(rotated.body.secret.slice(6, 20));
  expect(event.changes.after.secret).toMatch(/^whsec_.*\(masked\)$/);

  // Idempotency-Key: a retried request gets the same secret instead of rotating twice.
  const headers = { 'idempotency-key': 'rotate-once' };
  const once = await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: org.adminToken, headers });
  const again = await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: org.adminToken, headers });
  expect(again.body).toEqual(once.body);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(await auditOf(org.organizationId, 'webhook_secret.rotate')).toHaveLength(2);
  const stored = await sys.db('idempotency_keys').where({ organization_id: org.organizationId, key: 'rotate-once' }).first();
  expect(JSON.stringify(stored.response_body)).not.toContain(once.body.secret);

  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  expect((await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: auditor.token })).status).toBe(403);
  expect((await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: org.adminToken, body: { secret: 'mine' } })).status).toBe(400);
  expect((await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret/rotate', { token: org.adminToken })).status).toBe(405);
});

test('ending the grace period: admin only, the rotated-out secret stops signing at once, audited as webhook_secret.end_grace', async () => {
  const org = await orgWithWebhook('/end-grace');
  const { body: old } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  const rotated = await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: org.adminToken });
  expect(rotated.status).toBe(200);

  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  for (const who of [analyst, auditor]) {
    expect((await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/end-grace', { token: who.token })).status).toBe(403);
  }
  expect(await auditOf(org.organizationId, 'webhook_secret.end_grace')).toHaveLength(0);

  const ended = await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/end-grace', { token: org.adminToken });
  expect(ended.status).toBe(200);
  expect(ended.body).toEqual({ endedSecrets: 1 });
  expect(await sys.db('webhook_secrets').where({ organization_id: org.organizationId }).count({ n: '*' }).first()).toEqual({ n: '1' });

  const { sessionId, result } = await completedSession(org);
  expect(result).toBe('succeeded');
  const [req] = receiver.forPath('/end-grace');
  expect(String(req.headers['webhook-signature']).split(' ')).toHaveLength(1);
  expect(verifyWithStandardWebhooks(rotated.body.secret, req)).toEqual({ sessionId, newStatus: 'verify' });
  expect(() => verifyWithStandardWebhooks(old.secret, req)).toThrow();

  const [event] = await auditOf(org.organizationId, 'webhook_secret.end_grace');
  expect(event).toMatchObject({ actor_type: 'operator', actor_id: org.adminId, category: 'modification', resource_type: 'webhook_secret' });
  expect(event.changes).toEqual({ endedSecrets: 1 });
});

test('a rotated-out secret signs for 24 h, then is deleted (at the next rotation or signing sweep)', async () => {
  const org = await orgWithWebhook('/expired');
  const actor = { type: 'operator' as const, id: org.adminId };
  const t0 = new Date('2026-01-01T00:00:00Z');
  const first = await rotateWebhookSecret(sys.db, sys.keys.master, TEST_AUDIT_KEY, { organizationId: org.organizationId, actor, now: t0 });
  const rows = () => sys.db('webhook_secrets').where({ organization_id: org.organizationId }).count({ n: '*' }).first();
  expect(await rows()).toEqual({ n: '2' });

  const justBefore = new Date(t0.getTime() + SECRET_OVERLAP_MS - 1);
  expect(await activeWebhookSecrets(sys.db, sys.keys.master, org.organizationId, justBefore)).toHaveLength(2);
  expect(await deleteExpiredWebhookSecrets(sys.db, { organizationId: org.organizationId, now: justBefore })).toBe(0);
  const atEnd = new Date(t0.getTime() + SECRET_OVERLAP_MS);
  expect(await activeWebhookSecrets(sys.db, sys.keys.master, org.organizationId, atEnd)).toEqual([first.secret]);
  expect(await rows()).toEqual({ n: '2' }); // reading never deletes (the reveal route is a GET)
  expect(await deleteExpiredWebhookSecrets(sys.db, { organizationId: org.organizationId, now: atEnd })).toBe(1);
  expect(await rows()).toEqual({ n: '1' });

  // A rotation sweeps its organization's expired secrets in its own transaction.
  const t1 = new Date(atEnd.getTime() + 1000);
  await rotateWebhookSecret(sys.db, sys.keys.master, TEST_AUDIT_KEY, { organizationId: org.organizationId, actor, now: t1 });
  await rotateWebhookSecret(sys.db, sys.keys.master, TEST_AUDIT_KEY, { organizationId: org.organizationId, actor, now: new Date(t1.getTime() + SECRET_OVERLAP_MS + 1) });
  expect(await rows()).toEqual({ n: '2' }); // the current one and the one just rotated out

  // Its overlap (in January) is long over: the next delivery attempt signs once and deletes it.
  const { result } = await completedSession(org);
  expect(result).toBe('succeeded');
  expect(String(receiver.forPath('/expired')[0].headers['webhook-signature']).split(' ')).toHaveLength(1);
  expect(await rows()).toEqual({ n: '1' });
});
