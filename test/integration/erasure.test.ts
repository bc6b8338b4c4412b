import { createRetentionActivities } from '../../activities/retention';
import { sessionWorkflowId } from '../../workflows/definitions';
import { addOperator } from '../support/system';
import { call, newOrganization, startSystem, TestSystem } from '../support/system';

// DELETE /v1/sessions/:id (right to erasure) and the document routes, on the dev server and
// PostgreSQL: the REST call, the workflow's erase update, the purge activity, the ledger.
let sys: TestSystem;
let org: Awaited<ReturnType<typeof newOrganization>>;
let other: Awaited<ReturnType<typeof newOrganization>>;

beforeAll(async () => {
  sys = await startSystem();
  org = await newOrganization(sys.db);
  other = await newOrganization(sys.db, 'Other Org');
});
afterAll(async () => {
  await sys?.stop();
});

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0xff, 0xd9]);

/** A session in progress: link opened, one document uploaded, one analysis with a result. */
async function sessionInProgress(idempotencyKey?: string) {
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', {
    token: org.apiKey,
    headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
    body: { correlationId: 'CRM-erase-me', journeyId: 'kyc-basic', userInput: { firstName: 'Grace', lastName: 'Hopper', birthDate: '1906-12-09' } },
  });
  expect(created.status).toBe(201);
  const link = new URL(created.body.link.url).pathname;
  expect((await call(sys.baseUrl, 'GET', link)).body.status).toBe('in_progress');
  const doc = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'id_card', fileName: 'grâce "id".jpg', contentType: 'image/jpeg', contentBase64: JPEG.toString('base64') },
  });
  expect(doc.status).toBe(201);
  const analysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${created.body.id}/analyses`, {
    token: org.apiKey,
    body: { documentId: doc.body.id, kind: 'id_document', status: 'verify', result: { name: 'GRACE HOPPER' } },
  });
  expect(analysis.status).toBe(201);
  return { id: created.body.id as string, entityId: created.body.entityId as string, link, documentId: doc.body.id as string, analysisId: analysis.body.id as string };
}

const purgeEvents = (sessionId: string) => sys.db('audit_events').where({ resource_type: 'session', resource_id: sessionId, action: 'session.purge' });

test('erasing a session mid-journey purges it now, stops its link (410) and ends its workflow', async () => {
  const s = await sessionInProgress(`erase-${Date.now()}`);
  expect(await sys.db('idempotency_keys').where({ organization_id: org.organizationId }).whereRaw("response_body->>'id' = ?", [s.id])).toHaveLength(1);

  const erased = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${s.id}`, { token: org.adminToken, headers: { 'user-agent': 'erasure-test' } });
  expect(erased.status).toBe(200);
  expect(erased.body).toEqual({ id: s.id, status: 'purged', purgedAt: expect.any(String) });

  // The link is dead for every end-user route.
  for (const [method, path, body] of [
    ['GET', s.link, undefined],
    ['POST', `${s.link}/documents`, { type: 'selfie', fileName: 's.jpg', contentType: 'image/jpeg', contentBase64: 'AAAA' }],
    ['POST', `${s.link}/complete`, undefined],
  ] as const) {
    const res = await call(sys.baseUrl, method, path, { body });
    expect(res.status).toBe(410);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  }

  // The workflow ended on its own, cleanly, with the purge as its last step.
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(s.id));
  const final = await handle.result();
  expect(final).toMatchObject({ status: 'purged', purgedAt: erased.body.purgedAt });
  const described = await handle.describe();
  expect(described.status.name).toBe('COMPLETED');
  const sa = described.searchAttributes as Record<string, unknown[] | undefined>;
  expect(sa.SessionStatus).toEqual(['purged']);
  expect(sa.CorrelationId ?? []).toEqual([]);

  // The data is gone, the tombstone stays.
  expect(await sys.db('sessions').where({ id: s.id }).first()).toMatchObject({ status: 'purged', correlation_id: null, journey_id: null, redirect_url: null });
  expect(await sys.db('documents').where({ id: s.documentId }).first()).toMatchObject({ content: null, file_name: null, type: null, content_type: null, size_bytes: null });
  expect(await sys.db('analyses').where({ id: s.analysisId }).first()).toMatchObject({ status: 'purged', result: null, correlation_id: null });
  expect((await sys.db('entities').where({ id: s.entityId }).first()).personal_data).toBeNull();
  expect(await sys.db('documents').where({ session_id: s.id }).count('* as n').first()).toEqual({ n: '1' });
  // The stored response of the creating request repeated the correlation id: gone too.
  expect(await sys.db('idempotency_keys').where({ organization_id: org.organizationId }).whereRaw("response_body->>'id' = ?", [s.id])).toHaveLength(0);
  const session = await call(sys.baseUrl, 'GET', `/v1/sessions/${s.id}`, { token: org.apiKey });
  expect(session.body).toMatchObject({ id: s.id, status: 'purged', purgedAt: erased.body.purgedAt, correlationId: null, analyses: [{ id: s.analysisId, status: 'purged', result: null }] });
  for (const path of [`/v1/documents/${s.documentId}`, `/v1/documents/${s.documentId}/content`]) {
    const res = await call(sys.baseUrl, 'GET', path, { token: org.apiKey });
    expect(res.status).toBe(410);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  }

  // Audited as this operator's deletion, with the request that asked for it.
  const [event, ...more] = await purgeEvents(s.id);
  expect(more).toHaveLength(0);
  expect(event).toMatchObject({
    actor_type: 'operator',
    actor_id: org.adminId,
    category: 'deletion',
    outcome: 'success',
    request_id: erased.headers.get('x-request-id'),
    user_agent: 'erasure-test',
  });
  expect(event.changes).toMatchObject({ status: { before: 'in_progress', after: 'purged' }, reason: 'erasure', documentsPurged: 1, analysesPurged: 1 });

  // Erasing again is harmless: the same tombstone, nothing more recorded.
  const again = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${s.id}`, { token: org.adminToken });
  expect(again).toMatchObject({ status: 200, body: erased.body });
  expect(await purgeEvents(s.id)).toHaveLength(1);
});

test('only an admin of the organization erases; others get 403/404/400 and nothing is purged', async () => {
  const s = await sessionInProgress();
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
  const refusals: [string | undefined, string, number][] = [
    [undefined, s.id, 401],
    [org.apiKey, s.id, 403],
    [analyst.token, s.id, 403],
    [auditor.token, s.id, 403],
    [other.adminToken, s.id, 404],
    [org.adminToken, '5b0c1d3e-0000-4000-8000-000000000000', 404],
    [org.adminToken, 'not-a-uuid', 400],
  ];
  for (const [token, id, status] of refusals) {
    const res = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${id}`, { token });
    expect({ id, status: res.status }).toEqual({ id, status });
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  }
  expect((await sys.db('sessions').where({ id: s.id }).first()).status).toBe('in_progress');
  expect(await purgeEvents(s.id)).toHaveLength(0);
  expect((await call(sys.baseUrl, 'GET', s.link)).status).toBe(200);
});

test('a session whose workflow was terminated by hand is still erased, by the same purge', async () => {
  const s = await sessionInProgress();
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(s.id));
  await handle.terminate('operator cleanup in the Temporal UI');
  const erased = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${s.id}`, { token: org.adminToken });
  expect(erased.status).toBe(200);
  expect(await sys.db('sessions').where({ id: s.id }).first()).toMatchObject({ status: 'purged' });
  expect((await sys.db('documents').where({ id: s.documentId }).first()).content).toBeNull();
  const [event] = await purgeEvents(s.id);
  expect(event).toMatchObject({ actor_type: 'operator', actor_id: org.adminId, category: 'deletion', request_id: erased.headers.get('x-request-id') });
  expect((await call(sys.baseUrl, 'GET', s.link)).status).toBe(410);
});

test('documents: metadata and content for API keys and operators; each content read is audited', async () => {
  const s = await sessionInProgress();
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const reads = () => sys.db('audit_events').where({ action: 'document.read_content', resource_id: s.documentId }).orderBy('append_order');

  const meta = await call(sys.baseUrl, 'GET', `/v1/documents/${s.documentId}`, { token: org.apiKey });
  expect(meta.status).toBe(200);
  expect(meta.body).toEqual({
    id: s.documentId,
    sessionId: s.id,
    type: 'id_card',
    fileName: 'grâce "id".jpg',
    contentType: 'image/jpeg',
    sizeBytes: JPEG.length,
    createdAt: expect.any(String),
  });
  expect(await reads()).toHaveLength(0); // metadata is not content

  for (const [token, actor] of [[org.apiKey, 'api_key'], [analyst.token, 'operator']] as const) {
    const res = await fetch(`${sys.baseUrl}/v1/documents/${s.documentId}/content`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename*=UTF-8''gr%C3%A2ce%20%22id%22.jpg`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await res.arrayBuffer()).equals(JPEG)).toBe(true);
    const last = (await reads()).pop();
    expect(last).toMatchObject({ actor_type: actor, category: 'access', resource_type: 'document', outcome: 'success', request_id: res.headers.get('x-request-id') });
  }
  expect(await reads()).toHaveLength(2);

  // Another organization's document does not exist for it; nothing is recorded anywhere.
  for (const path of [`/v1/documents/${s.documentId}`, `/v1/documents/${s.documentId}/content`]) {
    expect((await call(sys.baseUrl, 'GET', path, { token: other.apiKey })).status).toBe(404);
  }
  expect((await call(sys.baseUrl, 'GET', '/v1/documents/5b0c1d3e-0000-4000-8000-000000000000/content', { token: org.apiKey })).status).toBe(404);
  const bad = await call(sys.baseUrl, 'GET', '/v1/documents/nope/content', { token: org.apiKey });
  expect(bad.status).toBe(400);
  expect(bad.body.errors).toEqual([expect.objectContaining({ path: 'params.id' })]);
  expect((await call(sys.baseUrl, 'GET', `/v1/documents/${s.documentId}/content`)).status).toBe(401);
  expect(await reads()).toHaveLength(2);
  expect(await sys.db('audit_events').where({ organization_id: other.organizationId, action: 'document.read_content' })).toHaveLength(0);
});

test('the purge activity run again (a retry, or two at once) purges once and records once', async () => {
  const s = await sessionInProgress();
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(s.id));
  await handle.terminate('so that only this test runs the purge');
  const { purgeSession } = createRetentionActivities({ db: sys.db, config: sys.config });
  const request = { sessionId: s.id, organizationId: org.organizationId, actor: { type: 'system' as const, id: 'retention' }, context: {} };
  const [a, b] = await Promise.all([purgeSession(request), purgeSession(request)]);
  const c = await purgeSession(request);
  expect(new Set([a.purgedAt, b.purgedAt, c.purgedAt]).size).toBe(1);
  expect(await purgeEvents(s.id)).toHaveLength(1);
  expect((await sys.db('sessions').where({ id: s.id }).first()).purged_at.toISOString()).toBe(a.purgedAt);
});
