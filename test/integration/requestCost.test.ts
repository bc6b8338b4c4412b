import { randomBytes } from 'node:crypto';
import { answerBeforeBody as answerBody } from '../support/uploads';
import { call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// Unauthenticated requests cost almost nothing: an upload's link token is resolved before
// any of its body is read, and a session's link takes a bounded number of documents/bytes.
let sys: TestSystem;
let org: Awaited<ReturnType<typeof newOrganization>>;

beforeAll(async () => {
  sys = await startSystem({ MAX_DOCUMENT_BYTES: '4096', MAX_DOCUMENTS_PER_SESSION: '2', MAX_SESSION_DOCUMENT_BYTES: '6000' });
  org = await newOrganization(sys.db);
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

const upload = (link: string, bytes: number) =>
  call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: randomBytes(bytes).toString('base64') },
  });

test('an upload with a random token is answered 404 before its body is read', async () => {
  const res = await answerBeforeBody(`/v1/journey/${randomBytes(32).toString('base64url')}/documents`);
  expect(res.status).toBe(404);
  expect(JSON.parse(res.body)).toMatchObject({ status: 404, type: '/problems/not-found' });
  expect(res.connection).toBe('close');
});

test('an upload to a completed session is refused before its body is read', async () => {
  const link = await newLink();
  expect((await call(sys.baseUrl, 'GET', link)).status).toBe(200);
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
  const res = await answerBeforeBody(`${link}/documents`);
  expect(res.status).toBe(409);
});

test('a session takes at most MAX_DOCUMENTS_PER_SESSION documents', async () => {
  const link = await newLink();
  expect((await upload(link, 100)).status).toBe(201);
  expect((await upload(link, 100)).status).toBe(201);
  const third = await upload(link, 100);
  expectProblem(third, 413);
  expect(third.body.detail).toMatch(/at most 2 documents/);
  // Refused before the body is read, too.
  expect((await answerBeforeBody(`${link}/documents`)).status).toBe(413);
  expect(await sys.db('documents').where({ session_id: await sessionIdOf(link) }).count('* as n').first()).toEqual({ n: '2' });
});

test('a session takes at most MAX_SESSION_DOCUMENT_BYTES bytes of documents', async () => {
  const link = await newLink();
  expect((await upload(link, 4000)).status).toBe(201);
  const second = await upload(link, 4000);
  expectProblem(second, 413);
  expect(second.body.detail).toMatch(/at most 6000 bytes/);
  expect((await upload(link, 1000)).status).toBe(201);
});

test("an upload body over the route's own limit is refused by the parser, not buffered and decoded", async () => {
  // MAX_DOCUMENT_BYTES 4096: the upload route takes about 70 KB of JSON; this one is 80 KB.
  const link = await newLink();
  const res = await upload(link, 60_000);
  expectProblem(res, 413);
  expect(res.body.detail).toMatch(/^the request body exceeds \d+ bytes$/);
  expect(await sys.db('documents').where({ session_id: await sessionIdOf(link) }).count('* as n').first()).toEqual({ n: '0' });
});

async function sessionIdOf(link: string): Promise<string> {
  const opened = await call(sys.baseUrl, 'GET', link);
  return opened.body.sessionId;
}
