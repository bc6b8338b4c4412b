import { WebhookReceiver } from '../support/receiver';
import { call, newOrganization, startSystem, TestSystem } from '../support/system';
import { deliveryResult, sessionEndDelivery, verifyWithStandardWebhooks } from '../support/webhooks';

// At-least-once delivery end to end: 200 sessions over REST on the Temporal dev server, a
// receiver on 127.0.0.1 that answers every third request with 500. Twelve retries 1 s apart
// make a delivery that never gets through practically impossible (each attempt fails with
// probability about 1/3), so every event must arrive, under exactly one webhook-id each.
const SESSIONS = 200;
// As many requests at once as the API's pool has connections (more queue on one organization's
// ledger head and may meet the pool's 3 s deadline: a 503, which is not this test's subject).
const BATCH = 10;
let sys: TestSystem;
let receiver: WebhookReceiver;

beforeAll(async () => {
  sys = await startSystem({ WEBHOOK_RETRY_DELAYS_SECONDS: Array(12).fill(1).join(',') });
  receiver = await new WebhookReceiver().start();
});
afterAll(async () => {
  await receiver?.stop();
  await sys?.stop();
});

test(`${SESSIONS} sessions, a receiver failing one request in three: exactly ${SESSIONS} distinct webhook-ids, every delivery succeeded`, async () => {
  const org = await newOrganization(sys.db);
  const patched = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionEndWebhookUrl: `${receiver.url}/bulk` } });
  expect(patched.status).toBe(200);
  receiver.respond = (_req, index) => (index % 3 === 2 ? { status: 500, body: 'try again' } : { status: 200, body: 'ok' });

  const sessionIds: string[] = [];
  for (let start = 0; start < SESSIONS; start += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, SESSIONS - start) }, async () => {
        const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
        expect(created.status).toBe(201);
        const completed = await call(sys.baseUrl, 'POST', `${new URL(created.body.link.url).pathname}/complete`);
        expect(completed.status).toBe(202);
        return created.body.id as string;
      }),
    );
    sessionIds.push(...batch);
  }

  // Wait for every session's delivery to end (its first attempt, or its retry workflow).
  // BATCH at a time: 200 pollers at once would queue on the test's own pool of 10 connections.
  const outcomes: { sessionId: string; deliveryId: string; result: unknown }[] = [];
  for (let start = 0; start < sessionIds.length; start += BATCH) {
    outcomes.push(
      ...(await Promise.all(
        sessionIds.slice(start, start + BATCH).map(async (sessionId) => {
          const { id: deliveryId } = await sessionEndDelivery(sys.db, org.organizationId, sessionId, 120_000);
          return { sessionId, deliveryId, result: await deliveryResult(sys.client, sys.db, deliveryId, 1, 120_000) };
        }),
      )),
    );
  }
  expect(outcomes.filter((o) => o.result !== 'succeeded')).toEqual([]);

  const received = receiver.forPath('/bulk');
  const failedRequests = received.filter((_r, i) => i % 3 === 2).length;
  expect(failedRequests).toBeGreaterThan(0);
  expect(received.length).toBe(SESSIONS + failedRequests); // each failure was retried, nothing else was sent twice

  // The receiver deduplicates by webhook-id: exactly one id per event, the delivery's own.
  const ids = new Set(received.map((r) => String(r.headers['webhook-id'])));
  expect(ids.size).toBe(SESSIONS);
  expect(ids).toEqual(new Set(outcomes.map((o) => `msg_${o.deliveryId.replace(/-/g, '')}`)));

  // Every request is signed, and each id always carries the same event.
  const { body: secret } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  const bodyById = new Map<string, string>();
  for (const req of received) {
    verifyWithStandardWebhooks(secret.secret, req);
    const id = String(req.headers['webhook-id']);
    expect(bodyById.get(id) ?? req.body).toBe(req.body);
    bodyById.set(id, req.body);
  }
  expect(new Set([...bodyById.values()].map((b) => JSON.parse(b).sessionId))).toEqual(new Set(sessionIds));

  const rows = await sys.db('webhook_deliveries').where({ organization_id: org.organizationId }).select('status');
  expect(rows).toHaveLength(SESSIONS);
  expect(rows.every((r) => r.status === 'succeeded')).toBe(true);
}, 600_000);
