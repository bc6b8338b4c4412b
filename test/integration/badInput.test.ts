import { call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// Bad input gets a 4xx problem+json naming what is wrong, never a 500, and writes nothing.
let sys: TestSystem;
let org: Awaited<ReturnType<typeof newOrganization>>;
let other: Awaited<ReturnType<typeof newOrganization>>;
let link: string;
let sessionId: string;

beforeAll(async () => {
  sys = await startSystem({ MAX_DOCUMENT_BYTES: '2048' });
  org = await newOrganization(sys.db);
  other = await newOrganization(sys.db, 'Other Org');
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  sessionId = created.body.id;
  link = new URL(created.body.link.url).pathname;
});
afterAll(async () => {
  await sys?.stop();
});

// Scoped to this file's organizations: other test files write to the same database meanwhile.
async function snapshot() {
  const count = async (table: string) =>
    Number((await sys.db(table).whereIn('organization_id', [org.organizationId, other.organizationId]).count('* as n').first())!.n);
  return {
    sessions: await count('sessions'),
    entities: await count('entities'),
    documents: await count('documents'),
    analyses: await count('analyses'),
    auditEvents: await count('audit_events'),
    settings: await sys.db('settings').where({ organization_id: org.organizationId }).first(),
  };
}


const big = 'x'.repeat(120 * 1024);
const cases: [string, string, string, { token?: 'api' | 'admin' | 'other' | 'bogus'; body?: unknown; rawBody?: string; headers?: Record<string, string> }, number, string[]][] = [
  ['wrong type', 'POST', '/v1/sessions', { token: 'api', body: { correlationId: 5 } }, 400, ['correlationId']],
  ['nested wrong type', 'POST', '/v1/sessions', { token: 'api', body: { userInput: { birthDate: 'yesterday' } } }, 400, ['userInput.birthDate']],
  ['unknown field', 'POST', '/v1/sessions', { token: 'api', body: { correlationId: 'a', color: 'red' } }, 400, ['color']],
  ['unknown entity type', 'POST', '/v1/sessions', { token: 'api', body: { entity: { type: 'robot' } } }, 400, ['entity.type']],
  ['malformed JSON', 'POST', '/v1/sessions', { token: 'api', rawBody: '{"correlationId": ' }, 400, []],
  ['not an object', 'POST', '/v1/sessions', { token: 'api', rawBody: '[1,2]' }, 400, []],
  ['oversized body', 'POST', '/v1/sessions', { token: 'api', body: { correlationId: big } }, 413, []],
  ['duration 1x', 'POST', '/v1/sessions', { token: 'api', body: { linkExpiry: '1x' } }, 400, ['linkExpiry']],
  ['duration zero', 'POST', '/v1/sessions', { token: 'api', body: { linkExpiry: '0m' } }, 400, ['linkExpiry']],
  ['duration negative', 'POST', '/v1/sessions', { token: 'api', body: { linkExpiry: '-5m' } }, 400, ['linkExpiry']],
  ['duration empty', 'POST', '/v1/sessions', { token: 'api', body: { linkExpiry: '' } }, 400, ['linkExpiry']],
  ['duration over 60d', 'POST', '/v1/sessions', { token: 'api', body: { linkExpiry: '61d' } }, 400, ['linkExpiry']],
  ['redirect not http', 'POST', '/v1/sessions', { token: 'api', body: { redirectUrl: 'javascript:alert(1)' } }, 400, ['redirectUrl']],
  ['settings duration 1x', 'PATCH', '/v1/settings', { token: 'admin', body: { sessionLinkExpiry: '1x' } }, 400, ['sessionLinkExpiry']],
  ['settings retention 0d', 'PATCH', '/v1/settings', { token: 'admin', body: { dataRetention: '0d' } }, 400, ['dataRetention']],
  ['settings retention too long', 'PATCH', '/v1/settings', { token: 'admin', body: { dataRetention: '3651d' } }, 400, ['dataRetention']],
  ['settings ftp URL', 'PATCH', '/v1/settings', { token: 'admin', body: { sessionEndWebhookUrl: 'ftp://example.com/hook' } }, 400, ['sessionEndWebhookUrl']],
  ['settings relative URL', 'PATCH', '/v1/settings', { token: 'admin', body: { decisionWebhookUrl: '/hook' } }, 400, ['decisionWebhookUrl']],
  ['settings URL too long', 'PATCH', '/v1/settings', { token: 'admin', body: { decisionWebhookUrl: `https://example.com/${'a'.repeat(2100)}` } }, 400, ['decisionWebhookUrl']],
  ['settings unknown field', 'PATCH', '/v1/settings', { token: 'admin', body: { retention: '1d' } }, 400, ['retention']],
  ['settings one bad field among good ones', 'PATCH', '/v1/settings', { token: 'admin', body: { sessionLinkExpiry: '2d', dataRetention: 'forever' } }, 400, ['dataRetention']],
  ['no token', 'GET', '/v1/sessions', {}, 401, []],
  ['unknown token', 'GET', '/v1/sessions', { token: 'bogus' }, 401, []],
  ['api key on an operator route', 'GET', '/v1/settings', { token: 'api' }, 403, []],
  ['bad id', 'GET', '/v1/sessions/not-a-uuid', { token: 'api' }, 400, ['params.id']],
  ['bad limit', 'GET', '/v1/sessions?limit=500', { token: 'api' }, 400, ['query.limit']],
  ['bad cursor', 'GET', '/v1/sessions?cursor=zzz', { token: 'api' }, 400, ['query.cursor']],
  ['bad filter', 'GET', '/v1/sessions?status=done', { token: 'api' }, 400, ['query.status']],
  ['unknown route', 'GET', '/v1/nothing-here', { token: 'api' }, 404, []],
  ['wrong method', 'DELETE', '/v1/settings', { token: 'admin' }, 405, []],
  ['unknown link', 'GET', '/v1/journey/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', {}, 404, []],
  ['analysis with wrong status', 'POST', '/v1/sessions/:id/analyses', { token: 'api', body: { kind: 'id', status: 'approved' } }, 400, ['status']],
  ['analysis missing kind', 'POST', '/v1/sessions/:id/analyses', { token: 'api', body: { status: 'verify' } }, 400, ['kind']],
];

test.each(cases)('%s → %s %s is refused with a problem', async (_label, method, path, opts, status, fields) => {
  const before = await snapshot();
  const token = { api: org.apiKey, admin: org.adminToken, other: other.apiKey, bogus: 'kyc_sk_not-a-real-key' }[opts.token ?? 'none' as 'api'];
  const res = await call(sys.baseUrl, method, path.replace(':id', sessionId), { ...opts, token });
  expectProblem(res, status, fields);
  expect(await snapshot()).toEqual(before);
});

test('another organization’s session is 404, not 403', async () => {
  const res = await call(sys.baseUrl, 'GET', `/v1/sessions/${sessionId}`, { token: other.apiKey });
  expectProblem(res, 404);
  const analysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${sessionId}/analyses`, {
    token: other.apiKey,
    body: { kind: 'id', status: 'verify' },
  });
  expectProblem(analysis, 404);
});

test('documents: oversized content is 413, bad base64 400, and nothing is stored', async () => {
  const before = await snapshot();
  const tooBig = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: Buffer.alloc(4096).toString('base64') },
  });
  expectProblem(tooBig, 413);
  const notBase64 = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: '***' },
  });
  expectProblem(notBase64, 400, ['contentBase64']);
  const unknownField = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: 'AAAA', note: 'x' },
  });
  expectProblem(unknownField, 400, ['note']);
  expect(await snapshot()).toEqual(before);
  const ok = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: Buffer.alloc(1024).toString('base64') },
  });
  expect(ok.status).toBe(201);
});

test('a private webhook URL is refused at save time when the guard is on', async () => {
  const guarded = await startSystem({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' });
  try {
    const res = await call(guarded.baseUrl, 'PATCH', '/v1/settings', {
      token: org.adminToken,
      body: { sessionEndWebhookUrl: 'http://169.254.169.254/latest/meta-data' },
    });
    expectProblem(res, 400, ['sessionEndWebhookUrl']);
    expect((await guarded.db('settings').where({ organization_id: org.organizationId }).first()).session_end_webhook_url).toBeNull();
  } finally {
    await guarded.stop();
  }
});
