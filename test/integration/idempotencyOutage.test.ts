import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { createApp } from '../../src/api/app';
import { CLAIM_LEASE_MS } from '../../src/api/idempotency';
import { createDb, type Db } from '../../src/db/knex';
import { DataKeyStore, MasterKeys } from '../../src/payloads/keyStore';
import { pgProxy, type PgProxy } from '../support/pgProxy';
import { call, expectProblem, newOrganization, startSystem, waitUntil, type TestSystem } from '../support/system';

// An Idempotency-Key whose first request failed because PostgreSQL went away must not stay
// "in progress": the client's retry after PostgreSQL is back creates the session (once). The
// API under test reaches PostgreSQL through a relay the test can cut (test/support/pgProxy.ts);
// the test's own connection and the worker's are direct, and hold the organization's settings
// row locked so that the request is caught between its claim and its commit.
let sys: TestSystem;
let proxy: PgProxy;
let apiDb: Db;
let server: http.Server;
let api: string;
beforeAll(async () => {
  sys = await startSystem();
  proxy = await pgProxy(sys.config.DATABASE_URL);
  apiDb = createDb(proxy.url);
  const keys = new DataKeyStore(apiDb, MasterKeys.fromConfig(sys.config));
  server = http.createServer(createApp({ config: sys.config, db: apiDb, temporal: sys.client, keys }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await apiDb?.destroy();
  await proxy?.close();
  await sys?.stop();
});

const create = (token: string, key: string) => call(api, 'POST', '/v1/sessions', { token, body: {}, headers: { 'idempotency-key': key } });
const keyRow = (organizationId: string, key: string) =>
  sys.db('idempotency_keys').where({ organization_id: organizationId, scope: 'POST /v1/sessions', key }).first();
const sessionCount = async (organizationId: string) =>
  Number((await sys.db('sessions').where({ organization_id: organizationId }).count<{ count: string }[]>('* as count'))[0]!.count);

/** Holds the organization's settings row: creations wait in their transaction, after their claim. */
async function holdSettings(organizationId: string): Promise<Knex.Transaction> {
  const trx = await sys.db.transaction();
  await trx('settings').where({ organization_id: organizationId }).forUpdate().first();
  return trx;
}
/** Until `n` creations wait for the settings row's lock (a row lock: seen as the backend's wait). */
async function waitersOnSettings(n: number): Promise<void> {
  await waitUntil(
    async () =>
      Number(
        (await sys.db.raw(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%from "settings"%for share%'`)).rows[0].n,
      ),
    (waiting) => waiting >= n,
  );
}

test('POST /v1/sessions that failed with PostgreSQL away releases its Idempotency-Key: the retry after recovery creates the session, once', async () => {
  const org = await newOrganization(sys.db);
  const key = `outage-${randomUUID()}`;
  const lock = await holdSettings(org.organizationId);
  let failed: Awaited<ReturnType<typeof create>>;
  try {
    const pending = create(org.apiKey, key);
    await waitersOnSettings(1);
    expect(await keyRow(org.organizationId, key)).toBeTruthy(); // claimed, not answered
    proxy.cut();
    failed = await pending;
  } finally {
    await lock.rollback();
  }
  expectProblem(failed, 503);
  expect(await sessionCount(org.organizationId)).toBe(0);

  // PostgreSQL back: the client's retry with the same key is no longer "in progress".
  proxy.restore();
  const retried = await waitUntil(() => create(org.apiKey, key), (r) => r.status !== 409 && r.status !== 503, 120_000, 500);
  expect(retried.status).toBe(201);
  const again = await create(org.apiKey, key);
  expect(again.status).toBe(201);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body.id).toBe(retried.body.id);
  expect(await sessionCount(org.organizationId)).toBe(1);
});

test('a claim its request left behind (the API died) expires with its lease; a live one answers 409', async () => {
  const org = await newOrganization(sys.db);
  const key = `abandoned-${randomUUID()}`;
  // The first request's claim as it stays when its process dies: no response, no checkpoint.
  const first = await waitUntil(() => create(org.apiKey, key), (r) => r.status === 201);
  const hash = (await keyRow(org.organizationId, key)).request_hash;
  const abandoned = `abandoned-${randomUUID()}`;
  await sys.db('idempotency_keys').insert({
    organization_id: org.organizationId,
    scope: 'POST /v1/sessions',
    key: abandoned,
    request_hash: hash,
    created_at: sys.db.raw(`now() - make_interval(secs => ?)`, [CLAIM_LEASE_MS / 1000 + 1]),
  });
  const live = `live-${randomUUID()}`;
  await sys.db('idempotency_keys').insert({ organization_id: org.organizationId, scope: 'POST /v1/sessions', key: live, request_hash: hash });

  const taken = await create(org.apiKey, abandoned);
  expect(taken.status).toBe(201);
  expect(taken.body.id).not.toBe(first.body.id);
  expectProblem(await create(org.apiKey, live), 409);
  // Another body under a claimed key is a mismatch, never a takeover.
  expectProblem(await call(api, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: 'other' }, headers: { 'idempotency-key': live } }), 422);
  expect(await sessionCount(org.organizationId)).toBe(2);
});

test('a request that outlived its lease is fenced off: the takeover creates the session, the late one commits nothing', async () => {
  const org = await newOrganization(sys.db);
  const key = `fenced-${randomUUID()}`;
  const lock = await holdSettings(org.organizationId);
  let late: Awaited<ReturnType<typeof create>>;
  let takeover: Awaited<ReturnType<typeof create>>;
  try {
    const lateRequest = create(org.apiKey, key);
    await waitersOnSettings(1);
    // Its lease runs out while it waits (aged by hand rather than waited for).
    await sys.db('idempotency_keys')
      .where({ organization_id: org.organizationId, scope: 'POST /v1/sessions', key })
      .update({ created_at: sys.db.raw(`created_at - make_interval(secs => ?)`, [CLAIM_LEASE_MS / 1000 + 1]) });
    const takeoverRequest = create(org.apiKey, key);
    await waitersOnSettings(2);
    await lock.rollback();
    [late, takeover] = await Promise.all([lateRequest, takeoverRequest]);
  } finally {
    if (!lock.isCompleted()) await lock.rollback();
  }
  expect(takeover.status).toBe(201);
  expectProblem(late, 409);
  expect(await sessionCount(org.organizationId)).toBe(1);
  const replay = await create(org.apiKey, key);
  expect(replay.body.id).toBe(takeover.body.id);
});
