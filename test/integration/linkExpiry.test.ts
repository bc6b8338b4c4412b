import { sessionWorkflowId, stateQuery } from '../../workflows/definitions';
import { call, newOrganization, startSystem, TestSystem, waitUntil } from '../support/system';

// The link stops working at expiresAt by the clock, whatever the state of the timer.
let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const until = (iso: string) => new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(iso) - Date.now()) + 50));

test('a one-minute link answers 410 from expiresAt on, even while no worker runs its timer', async () => {
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { linkExpiry: '1m' } });
  expect(created.status).toBe(201);
  expect(created.body.linkExpiry).toBe('1m');
  const link = new URL(created.body.link.url).pathname;
  expect((await call(sys.baseUrl, 'GET', link)).body.status).toBe('in_progress');

  // No worker: the expiry timer cannot be processed, as if it were late.
  sys.worker.shutdown();
  await until(created.body.link.expiresAt);
  const opened = await call(sys.baseUrl, 'GET', link);
  expect(opened.status).toBe(410);
  expect(opened.headers.get('content-type')).toContain('application/problem+json');
  const completed = await call(sys.baseUrl, 'POST', `${link}/complete`);
  expect(completed.status).toBe(410);
  const upload = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'selfie', fileName: 's.jpg', contentType: 'image/jpeg', contentBase64: 'AAAA' },
  });
  expect(upload.status).toBe(410);
  expect(await sys.db('documents').where({ session_id: created.body.id })).toHaveLength(0);

  // A worker comes back: the late timer marks the session expired, search attributes follow.
  await sys.restartWorker();
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(created.body.id));
  const state = await waitUntil(() => handle.query(stateQuery), (s) => s.status === 'expired');
  expect(state.expiredAt).toBe(created.body.link.expiresAt);
  // The record follows once the expiry activity has run.
  const session = await waitUntil(
    () => call(sys.baseUrl, 'GET', `/v1/sessions/${created.body.id}`, { token: org.apiKey }),
    (s) => s.body.status !== 'in_progress',
  );
  expect(session.body).toMatchObject({ status: 'expired', expiredAt: created.body.link.expiresAt, verdict: null });
});

test('the organization default applies to sessions created after it changes', async () => {
  const org = await newOrganization(sys.db);
  const before = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  const patched = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionLinkExpiry: '90m' } });
  expect(patched.body.sessionLinkExpiry).toBe('1h30m');
  const after = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  const span = (s: { body: { createdAt: string; link: { expiresAt: string } } }) => Date.parse(s.body.link.expiresAt) - Date.parse(s.body.createdAt);
  expect(span(before)).toBe(24 * 60 * 60 * 1000);
  expect(span(after)).toBe(90 * 60 * 1000);
  const canonical = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionLinkExpiry: '24h' } });
  expect(canonical.body.sessionLinkExpiry).toBe('1d');
});
