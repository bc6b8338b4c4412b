import { randomUUID } from 'node:crypto';
import { call, newOrganization, startSystem, TestSystem } from '../support/system';

// Whatever a client sends to whichever route, the answer is never a 500: every route gets
// malformed JSON, a body of the wrong shape, unknown ids and nonsense query parameters.
let sys: TestSystem;
let org: Awaited<ReturnType<typeof newOrganization>>;
let link: string;

beforeAll(async () => {
  sys = await startSystem();
  org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  link = new URL(created.body.link.url).pathname;
});
afterAll(async () => {
  await sys?.stop();
});

const unknown = randomUUID();
const routes: [string, string][] = [
  ['POST', '/v1/sessions'],
  ['GET', '/v1/sessions'],
  ['GET', '/v1/sessions/:id'],
  ['DELETE', '/v1/sessions/:id'],
  ['POST', '/v1/sessions/:id/analyses'],
  ['GET', '/v1/journey/:id'],
  ['POST', ':link/documents'],
  ['POST', ':link/complete'],
  ['POST', '/v1/analyses'],
  ['GET', '/v1/analyses/:id'],
  ['POST', '/v1/analyses/:id/decision'],
  ['GET', '/v1/documents/:id'],
  ['GET', '/v1/documents/:id/content'],
  ['GET', '/v1/settings'],
  ['PATCH', '/v1/settings'],
  ['GET', '/v1/settings/retention-preview'],
  ['POST', '/v1/settings/webhook-secret/rotate'],
  ['POST', '/v1/settings/webhooks/test'],
  ['GET', '/v1/webhook-deliveries'],
  ['GET', '/v1/webhook-deliveries/:id'],
  ['POST', '/v1/webhook-deliveries/:id/redeliver'],
  ['POST', '/v1/operators'],
  ['GET', '/v1/operators'],
  ['PATCH', '/v1/operators/:id'],
  ['POST', '/v1/api-keys'],
  ['DELETE', '/v1/api-keys/:id'],
  ['GET', '/v1/audit-events'],
  ['GET', '/v1/audit-events/:id'],
  ['GET', '/v1/audit-events/export'],
  ['GET', '/v1/audit-events/verify'],
];

const ids = [unknown, 'not-a-uuid', '%00', 'a'.repeat(300)];
const queries = ['', '?limit=abc', '?limit=-1', '?cursor=%40%40%40', '?from=yesterday&to=1e999', '?format=xml', '?dataRetention=1x', '?status[]=a&status[]=b'];
const bodies: { rawBody?: string; body?: unknown }[] = [
  { rawBody: '{"unterminated": ' },
  { rawBody: '[]' },
  { rawBody: 'null' },
  { rawBody: '"text"' },
  { body: { newStatus: 12, email: [], role: {}, label: null, kind: 1e308, status: true, endpoint: 'x' } },
  { body: { __proto__: { admin: true }, constructor: 'x' } },
];

test.each(routes)('%s %s never answers 500', async (method, pattern) => {
  const statuses = new Set<number>();
  for (const id of ids) {
    const path = pattern.replace(':link', link).replace(':id', encodeURIComponent(id));
    for (const query of method === 'GET' ? queries : ['']) {
      for (const payload of method === 'GET' || method === 'DELETE' ? [{}] : bodies) {
        for (const token of [org.adminToken, org.apiKey]) {
          const res = await call(sys.baseUrl, method, path + query, { token, ...payload });
          statuses.add(res.status);
          if (res.status >= 500) throw new Error(`${method} ${path}${query} ${JSON.stringify(payload)} → ${res.status} ${JSON.stringify(res.body)}`);
          if (res.status >= 400) expect(res.headers.get('content-type')).toContain('application/problem+json');
        }
      }
    }
  }
  // The nonsense was looked at and refused, not silently accepted everywhere.
  expect([...statuses].some((s) => s >= 400 && s < 500)).toBe(true);
});
