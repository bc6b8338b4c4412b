import { randomBytes } from 'node:crypto';
import { hashToken } from '../../src/orgs/credentials';
import { answerBeforeBody as answerBody } from '../support/uploads';
import { call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// Journey link tokens carry a MAC (src/domain/linkToken.ts): a forged one is refused without
// touching the database; real links, and those issued before MACs, keep working.
let sys: TestSystem;
let org: Awaited<ReturnType<typeof newOrganization>>;
/** The SQL of every query the API's pool ran that looks a link up. */
const lookups: string[] = [];

beforeAll(async () => {
  sys = await startSystem({ MAX_DOCUMENT_BYTES: '4096' });
  org = await newOrganization(sys.db);
  sys.db.on('query', (q: { sql: string }) => {
    if (q.sql.includes('link_token_hash')) lookups.push(q.sql);
  });
});
afterAll(async () => {
  await sys?.stop();
});

async function newLink(): Promise<string> {
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  expect(created.status).toBe(201);
  return new URL(created.body.link.url).pathname;
}

const answerBeforeBody = (path: string) => answerBody(sys.baseUrl, path);

const upload = (link: string) =>
  call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: randomBytes(1000).toString('base64') },
  });

test('a forged token of the right shape is refused 404 without a database query', async () => {
  const real = (await newLink()).split('/')[3];
  const wrongTag = real.slice(0, 50) + (real[50] === 'A' ? 'B' : 'A') + real.slice(51);
  const random = randomBytes(32).toString('base64url') + randomBytes(16).toString('base64url');
  lookups.length = 0;
  for (const token of [wrongTag, random]) {
    const opened = await call(sys.baseUrl, 'GET', `/v1/journey/${token}`);
    expectProblem(opened, 404);
    expect(opened.headers.get('referrer-policy')).toBe('no-referrer');
    expect(opened.headers.get('x-content-type-options')).toBe('nosniff');
    expect(opened.headers.get('x-request-id')).toBeTruthy();
    expectProblem(await call(sys.baseUrl, 'POST', `/v1/journey/${token}/complete`), 404);
    const uploaded = await answerBeforeBody(`/v1/journey/${token}/documents`);
    expect(uploaded.status).toBe(404);
    expect(JSON.parse(uploaded.body)).toMatchObject({ status: 404, type: '/problems/not-found' });
    expect(uploaded.connection).toBe('close');
  }
  expect(lookups).toEqual([]);
});

test("a real session's link opens, takes a document and completes", async () => {
  const link = await newLink();
  expect(link.split('/')[3]).toHaveLength(65);
  expect((await call(sys.baseUrl, 'GET', link)).status).toBe(200);
  expect((await upload(link)).status).toBe(201);
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
});

test('a link issued before tokens carried a MAC still works while the legacy path is on', async () => {
  // The old way: 32 random bytes in base64url, stored as their SHA-256.
  const sessionId = (await call(sys.baseUrl, 'GET', await newLink())).body.sessionId as string;
  const legacy = randomBytes(32).toString('base64url');
  await sys.db('sessions').where({ id: sessionId }).update({ link_token_hash: hashToken(legacy) });
  const link = `/v1/journey/${legacy}`;
  const opened = await call(sys.baseUrl, 'GET', link);
  expect(opened.status).toBe(200);
  expect(opened.body.sessionId).toBe(sessionId);
  expect((await upload(link)).status).toBe(201);
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
});
