import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { createDb } from '../../src/db/knex';
import { dropDatabase, ensureDatabase } from '../../src/db/migrate';
import { migrationSource } from '../../src/db/migrations';
import { MasterKeys } from '../../src/payloads/keyStore';
import { activeWebhookSecrets, currentWebhookSecret } from '../../src/settings/settings';
import { createOrganization } from '../../src/orgs/organizations';
import { TEST_AUDIT_KEY, TEST_PAYLOAD_MASTER_KEY } from '../support/system';

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

    // 012 alone (later migrations may not roll back), then its rollback below.
    await db.migrate.up({ migrationSource });
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

test('admin rewrap-data-keys re-seals the webhook secrets under the new master key; the old one is no longer needed', async () => {
  // This file's own database (no other test file uses it), migrated to the latest.
  await ensureDatabase(url);
  const db = createDb(url, { max: 2 });
  try {
    await db.migrate.latest({ migrationSource });
    const oldKeys = new MasterKeys(TEST_PAYLOAD_MASTER_KEY);
    const org = await createOrganization(db, oldKeys, { name: 'Rewrap', adminEmail: 'rewrap@example.com' });
    const secret = await currentWebhookSecret(db, oldKeys, org.organizationId);
    const newHex = 'ef'.repeat(32);
    const admin = (extra: Record<string, string>) =>
      promisify(execFile)('npx', ['tsx', 'src/cli/admin.ts', 'rewrap-data-keys'], {
        env: { ...process.env, DATABASE_URL: url, AUDIT_HMAC_KEY: TEST_AUDIT_KEY, ...extra },
        cwd: process.cwd(),
      });
    const first = await admin({ PAYLOAD_MASTER_KEY: newHex, PAYLOAD_MASTER_KEY_PREVIOUS: TEST_PAYLOAD_MASTER_KEY });
    const total = Number((await db('webhook_secrets').count({ n: '*' }).first())!.n); // with the test above's
    expect(JSON.parse(first.stdout.trim().split('\n').pop()!)).toMatchObject({ rewrappedWebhookSecrets: total });
    const again = await admin({ PAYLOAD_MASTER_KEY: newHex, PAYLOAD_MASTER_KEY_PREVIOUS: TEST_PAYLOAD_MASTER_KEY });
    expect(JSON.parse(again.stdout.trim().split('\n').pop()!)).toMatchObject({ rewrappedWebhookSecrets: 0 });
    expect(await currentWebhookSecret(db, new MasterKeys(newHex), org.organizationId)).toBe(secret);
    await expect(currentWebhookSecret(db, oldKeys, org.organizationId)).rejects.toThrow(/not configured/);
  } finally {
    await db.destroy();
  }
});
