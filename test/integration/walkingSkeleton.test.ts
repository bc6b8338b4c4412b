import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { sessionWorkflowId, stateQuery } from '../../workflows/definitions';
import { correlationIdHash } from '../../src/domain/correlationIdHash';
import { readHistory, unencryptedPayloads } from '../support/history';
import { WebhookReceiver } from '../support/receiver';
import { call, newOrganization, startSystem, TEST_METRICS_TOKEN, TestSystem, waitUntil } from '../support/system';
import { deliveryResult } from '../support/webhooks';

// The product's whole path on the real Temporal dev server, PostgreSQL and an HTTP receiver:
// REST → workflow → activities → signed webhook.
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

async function orgWithWebhook(path: string) {
  const org = await newOrganization(sys.db);
  const patched = await call(sys.baseUrl, 'PATCH', '/v1/settings', {
    token: org.adminToken,
    body: { sessionEndWebhookUrl: receiver.url + path },
  });
  expect(patched.status).toBe(200);
  return org;
}

/** Waits for the session's session-end delivery to end; returns its delivery id. */
async function deliveryOf(sessionId: string): Promise<{ deliveryId: string; result: string }> {
  // The completion update returned once the verdict was stored; the dispatch follows at once.
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(sessionId));
  const state = await waitUntil(() => handle.query(stateQuery), (s) => s.webhookDeliveryIds.length > 0);
  const [deliveryId] = state.webhookDeliveryIds;
  const result = await deliveryResult(sys.client, sys.db, deliveryId);
  return { deliveryId, result };
}

test('admin create-org prints one JSON line with the organization, an API key and an admin token', async () => {
  const { stdout } = await promisify(execFile)(
    'npx',
    ['tsx', 'src/cli/admin.ts', 'create-org', '--name', 'Walkthrough Ltd', '--admin-email', 'ops@example.com'],
    { env: { ...process.env }, cwd: process.cwd() },
  );
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const printed = JSON.parse(lines[0]);
  expect(Object.keys(printed).sort()).toEqual(['adminToken', 'apiKey', 'organizationId']);
  const settings = await call(sys.baseUrl, 'GET', '/v1/settings', { token: printed.adminToken });
  expect(settings.body).toEqual({ sessionEndWebhookUrl: null, decisionWebhookUrl: null, dataRetention: null, sessionLinkExpiry: '1d' });
  const list = await call(sys.baseUrl, 'GET', '/v1/sessions', { token: printed.apiKey });
  expect(list.body).toEqual({ data: [], nextCursor: null });
});

test('a completed session sends the seed-shaped session-end webhook, signed and verifiable', async () => {
  const org = await orgWithWebhook('/walkthrough');
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', {
    token: org.apiKey,
    body: { correlationId: 'CRM-42', userInput: { firstName: 'Ada', lastName: 'Lovelace', birthDate: '1815-12-10' } },
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ status: 'created', correlationId: 'CRM-42' });
  const sessionId: string = created.body.id;
  const link = new URL(created.body.link.url);
  expect(link.origin).toBe(sys.baseUrl);

  const opened = await call(sys.baseUrl, 'GET', link.pathname);
  expect(opened.body).toEqual({ sessionId, status: 'in_progress', expiresAt: created.body.link.expiresAt });

  const doc = await call(sys.baseUrl, 'POST', `${link.pathname}/documents`, {
    body: { type: 'passport', fileName: 'passport.jpg', contentType: 'image/jpeg', contentBase64: Buffer.from('fake-jpeg').toString('base64') },
  });
  expect(doc.status).toBe(201);
  for (const status of ['ai_approved', 'verify']) {
    const analysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${sessionId}/analyses`, {
      token: org.apiKey,
      body: { documentId: doc.body.id, kind: 'id_document', status, result: { score: 0.9 } },
    });
    expect(analysis.status).toBe(201);
  }

  const completed = await call(sys.baseUrl, 'POST', `${link.pathname}/complete`);
  expect(completed.status).toBe(202);
  const [received] = await receiver.waitForRequests(receiver.requests.length + 1);

  // Exactly the seed's payload, in the seed's key order.
  expect(received.path).toBe('/walkthrough');
  expect(received.headers['content-type']).toBe('application/json');
  expect(received.body).toBe(JSON.stringify({ sessionId, newStatus: 'verify' }));
  const { body: secret } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  expect(secret.secret).toMatch(/^whsec_/);
  const reads = await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'webhook_secret.read' });
  expect(reads).toHaveLength(1);
  expect(reads[0]).toMatchObject({ category: 'access', actor_type: 'operator', actor_id: org.adminId });
  expect(JSON.stringify(reads[0])).not.toContain(secret.secret);
  const verified = new Webhook(secret.secret).verify(received.body, {
    'webhook-id': String(received.headers['webhook-id']),
    'webhook-timestamp': String(received.headers['webhook-timestamp']),
    'webhook-signature': String(received.headers['webhook-signature']),
  });
  expect(verified).toEqual({ sessionId, newStatus: 'verify' });

  const session = await call(sys.baseUrl, 'GET', `/v1/sessions/${sessionId}`, { token: org.adminToken });
  expect(session.body).toMatchObject({ id: sessionId, status: 'completed', verdict: 'verify', correlationId: 'CRM-42' });
  expect(session.body.analyses).toHaveLength(2);

  const { deliveryId, result } = await deliveryOf(sessionId);
  expect(result).toBe('succeeded');
  const attempts = await sys.db('webhook_attempts').where({ delivery_id: deliveryId });
  expect(attempts).toHaveLength(1);
  expect(attempts[0]).toMatchObject({ outcome: 'success', status_code: 200 });

  // What an operator sees in the Web UI: search attributes with ids and statuses only.
  const described = await sys.client.workflow.getHandle(sessionWorkflowId(sessionId)).describe();
  const sa = described.searchAttributes as Record<string, unknown[]>;
  expect(sa.SessionStatus).toEqual(['completed']);
  expect(sa.Verdict).toEqual(['verify']);
  expect(sa.OrganizationId).toEqual([org.organizationId]);
  // The customer's reference is indexed as a keyed hash (docs/architecture.md), never in clear.
  expect(sa.CorrelationId).toEqual([correlationIdHash(sys.config.AUDIT_HMAC_KEY, org.organizationId, 'CRM-42')]);
  // What Temporal stores (every payload encrypted) and what the codec decodes: neither holds
  // the personal data nor the correlation id.
  const history = await readHistory(sys.client, sessionWorkflowId(sessionId), sys.keys);
  expect(unencryptedPayloads(history)).toEqual([]);
  expect(history.payloads.filter((p) => p.error)).toEqual([]);
  for (const personal of ['Ada', 'Lovelace', '1815-12-10', 'passport.jpg', Buffer.from('fake-jpeg').toString('base64'), 'CRM-42']) {
    expect(history.storedText).not.toContain(personal);
    expect(history.decodedText).not.toContain(personal);
  }
});

test('a receiver failing twice then answering 200 gets the event on the third attempt, three attempts recorded', async () => {
  const org = await orgWithWebhook('/flaky');
  let calls = 0;
  receiver.respond = (req) => (req.path === '/flaky' && ++calls <= 2 ? { status: 500, body: 'boom' } : { status: 200, body: 'ok' });
  try {
    const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
    const completed = await call(sys.baseUrl, 'POST', `${new URL(created.body.link.url).pathname}/complete`);
    expect(completed.status).toBe(202);
    const { deliveryId, result } = await deliveryOf(created.body.id);
    expect(result).toBe('succeeded');

    const attempts = await sys.db('webhook_attempts').where({ delivery_id: deliveryId }).orderBy('attempt_no');
    expect(attempts.map((a) => [a.attempt_no, a.outcome, a.status_code])).toEqual([
      [1, 'failure', 500],
      [2, 'failure', 500],
      [3, 'success', 200],
    ]);
    expect(attempts[0].response_body).toBe('boom');
    const received = receiver.forPath('/flaky');
    expect(received).toHaveLength(3);
    // The same event id on every attempt, so the receiver can deduplicate.
    expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const delivery = await sys.db('webhook_deliveries').where({ id: deliveryId }).first();
    expect(delivery).toMatchObject({ status: 'succeeded', attempt_count: 3, event: 'session_end' });
  } finally {
    receiver.respond = () => ({ status: 200, body: 'ok' });
  }
});

test('the verdict with no analyses is verify, and a second completion is a 409', async () => {
  const org = await orgWithWebhook('/empty');
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  const path = new URL(created.body.link.url).pathname;
  expect((await call(sys.baseUrl, 'POST', `${path}/complete`)).status).toBe(202);
  const again = await call(sys.baseUrl, 'POST', `${path}/complete`);
  expect(again.status).toBe(409);
  expect(again.headers.get('content-type')).toContain('application/problem+json');
  const state = await sys.client.workflow.getHandle(sessionWorkflowId(created.body.id)).query(stateQuery);
  expect(state).toMatchObject({ status: 'completed', verdict: 'verify' });
});

test('Idempotency-Key: same key and body give the same session; another body is refused', async () => {
  const org = await newOrganization(sys.db);
  const headers = { 'idempotency-key': 'create-once-1' };
  const first = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body: { correlationId: 'X' } });
  const second = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body: { correlationId: 'X' } });
  expect(first.status).toBe(201);
  expect(second.status).toBe(201);
  expect(second.body).toEqual(first.body);
  expect(second.headers.get('idempotent-replayed')).toBe('true');
  const other = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body: { correlationId: 'Y' } });
  expect(other.status).toBe(422);
  expect(await sys.db('sessions').where({ organization_id: org.organizationId }).count('* as n').first()).toEqual({ n: '1' });
});

test('sessions are listed with filters and cursor pagination', async () => {
  const org = await newOrganization(sys.db);
  for (let i = 0; i < 5; i++) {
    await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: i % 2 ? 'odd' : 'even' } });
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res: { body: { data: { id: string }[]; nextCursor: string | null } } = await call(
      sys.baseUrl,
      'GET',
      `/v1/sessions?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      { token: org.adminToken },
    );
    seen.push(...res.body.data.map((s) => s.id));
    cursor = res.body.nextCursor;
  } while (cursor);
  expect(seen).toHaveLength(5);
  expect(new Set(seen).size).toBe(5);
  const odd = await call(sys.baseUrl, 'GET', '/v1/sessions?correlationId=odd', { token: org.apiKey });
  expect(odd.body.data).toHaveLength(2);
  const live = await sys.client.workflow.getHandle(sessionWorkflowId(seen[0])).query(stateQuery);
  expect(live).toMatchObject({ status: 'created', organizationId: org.organizationId });
});

test('readiness reports PostgreSQL and Temporal', async () => {
  const ready = await call(sys.baseUrl, 'GET', '/readyz');
  expect(ready).toMatchObject({ status: 200, body: { status: 'ready', checks: { database: 'ok', temporal: 'ok' } } });
  expect((await call(sys.baseUrl, 'GET', '/healthz')).status).toBe(200);
  const metrics = await call(sys.baseUrl, 'GET', '/metrics', { token: TEST_METRICS_TOKEN });
  expect(metrics.status).toBe(200);
  expect(metrics.body).toMatch(/kyc_http_requests_total\{method="GET",route="\/readyz",status="200"\} 1/);
  expect(metrics.body).toMatch(/kyc_webhook_attempts_total\{outcome="success"\} \d+/);
  expect(metrics.body).toMatch(/kyc_audit_events_total \d+/);
});
