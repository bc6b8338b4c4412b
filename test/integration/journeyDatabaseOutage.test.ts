import { createDb, type Db } from '../../src/db/knex';
import { createWorker } from '../../src/temporal/worker';
import type { Worker } from '@temporalio/worker';
import { call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// The worker's database unreachable while the API's still answers (PostgreSQL going away under
// a link opening): the opening's local activity fails, and the end user gets 503 with
// Retry-After (try again), never 500, and the update does not wait out a long retry.
let sys: TestSystem;
let deadDb: Db;
beforeAll(async () => {
  // The API waits on Temporal far longer than the update may take: its answer is the update's.
  sys = await startSystem({ TEMPORAL_START_DEADLINE_MS: '60000' });
  // Nothing listens on port 1: every connection is refused, as with PostgreSQL stopped.
  deadDb = createDb('postgres://kyc@127.0.0.1:1/kyc');
});
afterAll(async () => {
  await sys?.stop();
  await deadDb?.destroy();
});

test('GET /v1/journey/:token with the worker’s PostgreSQL unreachable answers 503 problem+json, and 200 once it is back', async () => {
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  expect(created.status).toBe(201);
  const link = new URL(created.body.link.url).pathname;

  // The healthy worker hands over to one whose activities cannot reach the database.
  sys.worker.shutdown();
  const { worker: broken } = await createWorker({ config: sys.config, db: deadDb, keys: sys.keys, client: sys.client });
  const brokenRun = broken.run();
  let opened: Awaited<ReturnType<typeof call>>;
  try {
    opened = await call(sys.baseUrl, 'GET', link);
  } finally {
    (broken as Worker).shutdown();
    await brokenRun;
  }
  expectProblem(opened, 503);
  expect(opened.headers.get('retry-after')).toBeTruthy();
  expect((await sys.db('sessions').where({ id: created.body.id }).first('status')).status).toBe('created');

  // The database back: the same link opens, and the record follows.
  await sys.restartWorker();
  const again = await call(sys.baseUrl, 'GET', link);
  expect(again.status).toBe(200);
  expect(again.body.status).toBe('in_progress');
  expect((await sys.db('sessions').where({ id: created.body.id }).first('status')).status).toBe('in_progress');
});
