import { randomUUID } from 'node:crypto';
import { createDb } from '../../src/db/knex';
import { dropDatabase, ensureDatabase } from '../../src/db/migrate';
import { migrationSource } from '../../src/db/migrations';
import { MasterKeys } from '../../src/payloads/keyStore';
import { activeWebhookSecrets } from '../../src/settings/settings';
import { TEST_PAYLOAD_MASTER_KEY } from '../support/system';

// Migration 012 on a real PostgreSQL database of its own: plaintext signing secrets written
// before it are sealed under PAYLOAD_MASTER_KEY, the plaintext column is gone, and they still sign.
const url = (() => {
  const u = new URL(process.env.DATABASE_URL!);
  u.pathname = `/erasure2_m012_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  return u.toString();
})();

afterAll(async () => {
  await dropDatabase(url);
});

test('migration 012 seals existing webhook secrets and drops the plaintext column; its rollback restores them', async () => {
  await ensureDatabase(url);
  const db = createDb(url, { max: 2 });
  try {
    // Every migration before 012, one at a time.
    const nextPending = async (): Promise<string> => {
      const [, pending] = (await db.migrate.list({ migrationSource })) as [unknown, Array<string | { file?: string; name?: string }>];
      const p = pending[0];
      return typeof p === 'string' ? p : (p?.file ?? p?.name ?? '');
    };
    while (!(await nextPending()).startsWith('012')) await db.migrate.up({ migrationSource });
    const organizationId = randomUUID();
    await db('organizations').insert({ id: organizationId, name: 'Before 012' });
    const plaintext = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
    const id = randomUUID();
    await db('webhook_secrets').insert({ id, organization_id: organizationId, secret: plaintext });

    await db.migrate.latest({ migrationSource });
    const columns = Object.keys(await db('webhook_secrets').columnInfo());
    expect(columns).not.toContain('secret');
    const row = await db('webhook_secrets').where({ id }).first();
    expect(Buffer.isBuffer(row.secret_ciphertext)).toBe(true);
    expect(row.secret_ciphertext.toString('latin1')).not.toContain(plaintext.slice(6));
    expect(await activeWebhookSecrets(db, new MasterKeys(TEST_PAYLOAD_MASTER_KEY), organizationId)).toEqual([plaintext]);
    // Another master key cannot unseal it.
    await expect(activeWebhookSecrets(db, new MasterKeys('ab'.repeat(32)), organizationId)).rejects.toThrow(/not configured/);

    // Rolled back, 012 restores the plaintext column from the sealed one.
    await db.migrate.down({ migrationSource });
    expect(await db('webhook_secrets').where({ id }).first('secret')).toEqual({ secret: plaintext });
    expect(Object.keys(await db('webhook_secrets').columnInfo())).not.toContain('secret_ciphertext');
  } finally {
    await db.destroy();
  }
});
