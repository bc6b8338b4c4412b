import { randomUUID } from 'node:crypto';
import { createDb, type Db } from '../../src/db/knex';
import { DataKeyStore, MasterKeys } from '../../src/payloads/keyStore';
import { sessionScope } from '../../src/payloads/scopes';
import { pgProxy, type PgProxy } from '../support/pgProxy';
import { TEST_PAYLOAD_MASTER_KEY } from '../support/system';

// The worker's payload codec with PostgreSQL unreachable: a data key this process already held
// keeps serving past its cache expiry (otherwise every workflow task fails to encode or decode
// and the SDK gives the Worker up); a key it never held still fails, and nothing is served
// stale when PostgreSQL answers.
let proxy: PgProxy;
let db: Db;
beforeAll(async () => {
  proxy = await pgProxy(process.env.DATABASE_URL!);
  db = createDb(proxy.url, {}, { connectTimeoutMs: 1_000, acquireTimeoutMs: 1_500 });
});
afterAll(async () => {
  await db?.destroy();
  await proxy?.close();
});

test('with PostgreSQL unreachable, expired cached keys keep encoding and decoding; unknown ones fail', async () => {
  // Entries expire at once: every lookup below would go to PostgreSQL.
  const keys = new DataKeyStore(db, new MasterKeys(TEST_PAYLOAD_MASTER_KEY), { cacheTtlMs: 1 });
  const scope = sessionScope(randomUUID());
  const held = await keys.keyForScope(scope);
  const neverHeld = await new DataKeyStore(db, new MasterKeys(TEST_PAYLOAD_MASTER_KEY)).keyForScope(sessionScope(randomUUID()));
  await new Promise((resolve) => setTimeout(resolve, 5));

  proxy.cut();
  try {
    expect((await keys.keyById(held.id)).key.equals(held.key)).toBe(true);
    expect((await keys.keyForScope(scope)).id).toBe(held.id);
    await expect(keys.keyById(neverHeld.id)).rejects.toThrow();
    await expect(keys.keyForScope(sessionScope(randomUUID()))).rejects.toThrow();
  } finally {
    proxy.restore();
  }

  // Back: the database answers again, and a key destroyed meanwhile is refused, not served stale.
  await db('data_keys').where({ id: held.id }).update({ wrapped_key: null, master_key_id: null, destroyed_at: db.fn.now() });
  await expect(keys.keyById(held.id)).rejects.toThrow(/key destroyed/);
});
