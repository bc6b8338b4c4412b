import { randomUUID } from 'node:crypto';
import { createDb, type Db } from '../../src/db/knex';
import { EncryptionCodec } from '../../src/payloads/codec';
import { DataKeyStore, KEY_STORE_POOL_MAX, MasterKeys } from '../../src/payloads/keyStore';
import { sessionScope } from '../../src/payloads/scopes';
import { TEST_PAYLOAD_MASTER_KEY } from '../support/system';

// A worker waking a thousand workflows at once (a retention re-arm, replays after evictions)
// needs a thousand data keys it no longer caches. One query each through the key store's small
// pool queued past the pool's deadline on a loaded host and failed whole workflow tasks; the
// lookups of one turn now share a query.
let db: Db;
// The keys are made beforehand through a pool of their own that waits as long as it takes:
// a thousand creations at once are this test's setup, not what it is about.
let setupDb: Db;
const statements: string[] = [];
beforeAll(() => {
  db = createDb(process.env.DATABASE_URL!, { max: KEY_STORE_POOL_MAX });
  db.on('query', (q: { sql: string }) => statements.push(q.sql));
  setupDb = createDb(process.env.DATABASE_URL!, { max: KEY_STORE_POOL_MAX }, { acquireTimeoutMs: 300_000 });
});
afterAll(async () => {
  await db?.destroy();
  await setupDb?.destroy();
});

test('a thousand payloads under a thousand uncached keys decode with a handful of key queries', async () => {
  const master = new MasterKeys(TEST_PAYLOAD_MASTER_KEY);
  const writer = new EncryptionCodec(new DataKeyStore(setupDb, master));
  const scopes = Array.from({ length: 1000 }, () => sessionScope(randomUUID()));
  const workflowIds = scopes.map((s) => `session-${s.slice('session:'.length)}`);
  const sealed = await Promise.all(
    workflowIds.map((workflowId, i) => writer.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify({ n: i })) }], { workflowId } as never)),
  );

  // A fresh store: nothing cached, as after the cache's expiry.
  const reader = new EncryptionCodec(new DataKeyStore(db, master));
  statements.length = 0;
  const decoded = await Promise.all(sealed.map((payloads) => reader.decode(payloads)));
  expect(decoded.map(([p]) => JSON.parse(Buffer.from(p!.data!).toString()).n)).toEqual(scopes.map((_, i) => i));
  const keyQueries = statements.filter((sql) => sql.includes('data_keys'));
  expect(keyQueries.length).toBeLessThanOrEqual(5);

  // Encoding for those workflows (a fresh store again) likewise.
  const encoder = new EncryptionCodec(new DataKeyStore(db, master));
  statements.length = 0;
  await Promise.all(workflowIds.map((workflowId) => encoder.encode([{ metadata: {}, data: Buffer.from('{}') }], { workflowId } as never)));
  expect(statements.filter((sql) => sql.includes('data_keys')).length).toBeLessThanOrEqual(5);
});
