import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/api/app';
import { addOperator, call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// Issue 12's smaller fixes: response headers, who reads document content, operator tokens.
let sys: TestSystem;
let org: Awaited<ReturnType<typeof newOrganization>>;

beforeAll(async () => {
  sys = await startSystem({ OPERATOR_TOKEN_TTL: '30d' });
  org = await newOrganization(sys.db);
});
afterAll(async () => {
  await sys?.stop();
});

test('every response carries Referrer-Policy: no-referrer and X-Content-Type-Options: nosniff, no HSTS over http', async () => {
  const answers = [
    await call(sys.baseUrl, 'GET', '/healthz'),
    await call(sys.baseUrl, 'GET', '/v1/sessions', { token: org.apiKey }),
    await call(sys.baseUrl, 'GET', '/v1/sessions'),
    await call(sys.baseUrl, 'GET', '/no/such/route'),
    await call(sys.baseUrl, 'GET', '/v1/journey/unknown-token-xxxxxxxxxxxxxxxxxxxxx'),
    await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, rawBody: '{' }),
  ];
  for (const res of answers) {
    expect([res.status, res.headers.get('referrer-policy'), res.headers.get('x-content-type-options')]).toEqual([res.status, 'no-referrer', 'nosniff']);
    expect(res.headers.get('strict-transport-security')).toBeNull();
  }
});

test('HSTS is sent when PUBLIC_BASE_URL is https', async () => {
  const server = http.createServer(createApp({ config: { ...sys.config, PUBLIC_BASE_URL: 'https://kyc.example.com' }, db: sys.db, temporal: sys.client, keys: sys.keys }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await call(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'GET', '/healthz');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('document content is readable by admins, analysts and API keys, not by auditors', async () => {
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  const link = new URL(created.body.link.url).pathname;
  const up = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: Buffer.from('jpeg bytes').toString('base64') },
  });
  expect(up.status).toBe(201);
  const path = `/v1/documents/${up.body.id}`;
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  expectProblem(await call(sys.baseUrl, 'GET', `${path}/content`, { token: auditor.token }), 403);
  expect((await call(sys.baseUrl, 'GET', path, { token: auditor.token })).status).toBe(200); // metadata stays readable
  for (const token of [analyst.token, org.adminToken, org.apiKey]) {
    const res = await call(sys.baseUrl, 'GET', `${path}/content`, { token });
    expect([res.status, res.body]).toEqual([200, 'jpeg bytes']);
  }
});

test('POST /v1/operators/:id/token rotates the token: the old one stops working, the new one is shown once and expires', async () => {
  const created = await call(sys.baseUrl, 'POST', '/v1/operators', { token: org.adminToken, body: { email: `rot-${Date.now()}@example.com`, role: 'analyst' } });
  expect(created.status).toBe(201);
  const oldToken = created.body.token;
  expect(Date.parse(created.body.tokenExpiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);

  const rotated = await call(sys.baseUrl, 'POST', `/v1/operators/${created.body.id}/token`, { token: org.adminToken });
  expect(rotated.status).toBe(201);
  expect(rotated.headers.get('cache-control')).toBe('no-store');
  expect(rotated.body).toMatchObject({ id: created.body.id, token: expect.stringMatching(/^kyc_op_/), tokenExpiresAt: expect.any(String) });
  expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: oldToken })).status).toBe(401);
  expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: rotated.body.token })).status).toBe(200);

  const events = await call(sys.baseUrl, 'GET', `/v1/audit-events?action=operator.rotate_token&resourceId=${created.body.id}`, { token: org.adminToken });
  expect(events.body.data).toHaveLength(1);
  expect(JSON.stringify(events.body.data[0])).not.toContain(rotated.body.token);

  // Once expired, the token is refused like a revoked one.
  await sys.db('operators').where({ id: created.body.id }).update({ token_expires_at: new Date(Date.now() - 1000) });
  expectProblem(await call(sys.baseUrl, 'GET', '/v1/settings', { token: rotated.body.token }), 401);

  // Only admins rotate; a disabled operator gets a token by being re-enabled, not rotated.
  expectProblem(await call(sys.baseUrl, 'POST', `/v1/operators/${created.body.id}/token`, { token: rotated.body.token }), 401);
  await call(sys.baseUrl, 'PATCH', `/v1/operators/${created.body.id}`, { token: org.adminToken, body: { disabled: true } });
  expectProblem(await call(sys.baseUrl, 'POST', `/v1/operators/${created.body.id}/token`, { token: org.adminToken }), 409);
});
