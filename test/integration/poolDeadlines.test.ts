import { createDb, DB_DEADLINES, WORKER_DB_DEADLINES, type Db } from '../../src/db/knex';

// The API's pool gives up on a busy pool quickly (a 503 the client retries); the worker's pool
// waits longer, because an activity failed for want of a connection only lands behind Temporal's
// retry backoff. Seen in CI: a bulk purge of 1,000 sessions queued on 10 connections, the purges
// failed at the 3 s deadline and backed off for minutes.
const opened: Db[] = [];
const pool = (deadlines: Parameters<typeof createDb>[2]) => {
  const db = createDb(process.env.DATABASE_URL!, { max: 1 }, deadlines);
  opened.push(db);
  return db;
};
afterAll(() => Promise.all(opened.map((db) => db.destroy())));

test("the worker's pool waits for a busy connection past the API's acquire deadline", async () => {
  expect(WORKER_DB_DEADLINES.acquireTimeoutMs).toBeGreaterThan(DB_DEADLINES.acquireTimeoutMs);
  const apiDb = pool({});
  const workerDb = pool(WORKER_DB_DEADLINES);
  // Each pool's only connection is busy in a transaction.
  const apiBusy = await apiDb.transaction();
  const workerBusy = await workerDb.transaction();

  // The worker's request waits first, so with equal deadlines it would give up first. (A knex
  // query starts when it is awaited: Promise.resolve starts each now.)
  const workerQuery = Promise.resolve(workerDb.raw('select 1 as one'));
  const apiQuery = Promise.resolve(apiDb.raw('select 1 as one'));
  await expect(apiQuery).rejects.toThrow(/Timeout acquiring a connection/);

  // The connection comes back after the API's deadline has passed: the worker's request runs.
  await workerBusy.commit();
  await apiBusy.commit();
  const result = await workerQuery;
  expect(result.rows).toEqual([{ one: 1 }]);
});
