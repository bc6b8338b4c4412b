import { appendAuditEvent, chainPending, verifyLedger } from '../../src/audit/ledger';
import { createDb, type Db } from '../../src/db/knex';
import { pool } from '../../bench/lib/stats';
import { newOrganization, TEST_AUDIT_KEY } from '../support/system';

// The append inserts an unchained event; sequencers chain committed events in batches
// (docs/architecture.md). Many appends at once in one organization, each key sent twice at the
// same time, with three sequencers (three "processes", each its own pool) racing to chain them
// meanwhile, must still give one gap-free chain with every event exactly once.
let db: Db;
let others: Db[];
beforeAll(() => {
  db = createDb(process.env.DATABASE_URL!, { max: 12 });
  others = [createDb(process.env.DATABASE_URL!, { max: 2 }), createDb(process.env.DATABASE_URL!, { max: 2 })];
});
afterAll(async () => {
  await Promise.all(others.map((o) => o.destroy()));
  await db.destroy();
});

test('concurrent appends in one organization, with retries racing their first attempt: gap-free, once each, chain valid', async () => {
  const org = await newOrganization(db, 'ledger-concurrency');
  const keys = 150;
  // Each key twice, the two attempts interleaved with the other keys' attempts.
  const order = Array.from({ length: keys * 2 }, (_, i) => (i % 2 === 0 ? i / 2 : keys - 1 - (i - 1) / 2));
  let appending = true;
  const sequencers = [db, ...others].map(async (handle) => {
    while (appending) await chainPending(handle, TEST_AUDIT_KEY, org.organizationId, 7);
  });
  const rows = await pool(order.length, 10, (i) =>
    appendAuditEvent(db, TEST_AUDIT_KEY, {
      organizationId: org.organizationId,
      actor: { type: 'system', id: 'test' },
      action: 'test.append',
      category: 'modification',
      resource: { type: 'test', id: String(order[i]) },
      idempotencyKey: `k-${order[i]}`,
    }),
  ).finally(() => {
    appending = false;
  });
  await Promise.all(sequencers);
  await chainPending(db, TEST_AUDIT_KEY, org.organizationId);
  // Both attempts of a key answer with the same event.
  const byKey = new Map<string, Set<string>>();
  for (const row of rows) byKey.set(row.idempotency_key!, (byKey.get(row.idempotency_key!) ?? new Set()).add(row.id));
  expect([...byKey.values()].every((ids) => ids.size === 1)).toBe(true);

  const events = await db('audit_events').where({ organization_id: org.organizationId, action: 'test.append' }).orderBy('seq').select('seq', 'idempotency_key');
  expect(events).toHaveLength(keys);
  expect(new Set(events.map((e) => e.idempotency_key)).size).toBe(keys);
  const all = await db('audit_events').where({ organization_id: org.organizationId }).orderBy('seq').pluck('seq');
  expect(all.map(Number)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  const head = await db('audit_heads').where({ organization_id: org.organizationId }).first('seq');
  expect(Number(head.seq)).toBe(all.length);
  expect((await verifyLedger(db, TEST_AUDIT_KEY, org.organizationId)).valid).toBe(true);
});

test('an append inside a transaction that rolls back leaves neither the event nor a moved head', async () => {
  const org = await newOrganization(db, 'ledger-rollback');
  const before = await db('audit_heads').where({ organization_id: org.organizationId }).first('seq', 'hash');
  await expect(
    db.transaction(async (trx) => {
      await appendAuditEvent(trx, TEST_AUDIT_KEY, {
        organizationId: org.organizationId,
        actor: { type: 'system', id: 'test' },
        action: 'test.rolled_back',
        category: 'modification',
        resource: { type: 'test', id: 'x' },
      });
      throw new Error('the caller fails after appending');
    }),
  ).rejects.toThrow('the caller fails');
  expect(await db('audit_heads').where({ organization_id: org.organizationId }).first('seq', 'hash')).toEqual(before);
  expect(await db('audit_events').where({ organization_id: org.organizationId, action: 'test.rolled_back' }).first()).toBeUndefined();
});
