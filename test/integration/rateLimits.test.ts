import { randomBytes } from 'node:crypto';
import { addOperator, call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// Rate limits with tiny budgets that never refill within a run (N per day): no timing involved.
let sys: TestSystem;
let org: Awaited<ReturnType<typeof newOrganization>>;

beforeAll(async () => {
  sys = await startSystem({
    RATE_LIMIT_UNAUTHENTICATED: '3/1d',
    RATE_LIMIT_PRINCIPAL: '5/1d',
    RATE_LIMIT_VERIFY: '2/1d',
    RATE_LIMIT_WEBHOOK_TEST: '1/1d',
    METRICS_TOKEN: 'metrics-token-0123456789',
  });
  org = await newOrganization(sys.db);
});
afterAll(async () => {
  await sys?.stop();
});

function expect429(res: Awaited<ReturnType<typeof call>>, limit: string) {
  expectProblem(res, 429);
  expect(res.body.type).toBe('/problems/rate-limited');
  expect(res.body.detail).toContain(`"${limit}"`);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
}

test('journey links and failed authentications share a strict per-IP budget', async () => {
  const random = () => `/v1/journey/${randomBytes(32).toString('base64url')}`;
  expect((await call(sys.baseUrl, 'GET', random())).status).toBe(404);
  expect((await call(sys.baseUrl, 'POST', `${random()}/documents`, { body: {} })).status).toBe(404);
  expect((await call(sys.baseUrl, 'GET', '/v1/sessions', { token: 'kyc_sk_guess' })).status).toBe(401);
  expect429(await call(sys.baseUrl, 'GET', random()), 'unauthenticated');
  expect429(await call(sys.baseUrl, 'GET', '/v1/sessions', { token: 'kyc_sk_guess2' }), 'unauthenticated');
  // A valid credential is not held back by that address's failed guesses.
  expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: (await addOperator(sys.db, org.organizationId, 'admin')).token })).status).toBe(200);
  const metrics = await call(sys.baseUrl, 'GET', '/metrics', { token: 'metrics-token-0123456789' });
  expect(metrics.body).toMatch(/kyc_rate_limited_total\{limit="unauthenticated"\} 2/);
});

test('each principal has its own budget', async () => {
  const a = await addOperator(sys.db, org.organizationId, 'admin');
  const b = await addOperator(sys.db, org.organizationId, 'admin');
  for (let i = 0; i < 5; i += 1) expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: a.token })).status).toBe(200);
  expect429(await call(sys.baseUrl, 'GET', '/v1/settings', { token: a.token }), 'principal');
  expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: b.token })).status).toBe(200);
});

test('verify has a per-organization budget of its own', async () => {
  const other = await newOrganization(sys.db, 'Verify Org');
  const ops = [await addOperator(sys.db, other.organizationId, 'auditor'), await addOperator(sys.db, other.organizationId, 'admin')];
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: ops[0].token })).status).toBe(200);
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: ops[1].token })).status).toBe(200);
  // Another operator of the same organization draws from the same budget.
  expect429(await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: ops[0].token }), 'verify');
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events', { token: ops[0].token })).status).toBe(200);
});

test('the webhook test send has a per-organization budget of its own', async () => {
  const other = await newOrganization(sys.db, 'Webhook Org');
  const admin = await addOperator(sys.db, other.organizationId, 'admin');
  const first = await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: admin.token, body: { endpoint: 'decision' } });
  expect(first.status).not.toBe(429);
  expect429(await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: admin.token, body: { endpoint: 'decision' } }), 'webhook_test');
});
