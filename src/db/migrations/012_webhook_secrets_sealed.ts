import type { Knex } from 'knex';
import { masterKeyId, open, parseKeyHex, seal } from '../../domain/aesGcm';

// Issue 9: webhook signing secrets sealed at rest under the master key (PAYLOAD_MASTER_KEY),
// bound to their row id; the plaintext column goes. Existing rows are sealed here, so the
// migration needs PAYLOAD_MASTER_KEY when any secret exists (npm start exports the local one).
const aad = (id: string) => `webhook-secret:${id}`;

function masterFromEnv(): Buffer {
  const hex = process.env.PAYLOAD_MASTER_KEY;
  if (!hex) throw new Error('migration 012 seals the webhook signing secrets: set PAYLOAD_MASTER_KEY');
  return parseKeyHex(hex);
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_secrets', (t) => {
    t.binary('secret_ciphertext');
    t.text('master_key_id');
  });
  const rows: { id: string; secret: string }[] = await knex('webhook_secrets').select('id', 'secret');
  if (rows.length > 0) {
    const master = masterFromEnv();
    for (const row of rows) {
      await knex('webhook_secrets')
        .where({ id: row.id })
        .update({ secret_ciphertext: seal(master, Buffer.from(row.secret, 'utf8'), aad(row.id)), master_key_id: masterKeyId(master) });
    }
  }
  await knex.schema.alterTable('webhook_secrets', (t) => {
    t.dropColumn('secret');
    t.binary('secret_ciphertext').notNullable().alter();
    t.text('master_key_id').notNullable().alter();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_secrets', (t) => t.text('secret'));
  const rows: { id: string; secret_ciphertext: Buffer; master_key_id: string }[] = await knex('webhook_secrets').select('id', 'secret_ciphertext', 'master_key_id');
  if (rows.length > 0) {
    const master = masterFromEnv();
    for (const row of rows) {
      if (row.master_key_id !== masterKeyId(master)) throw new Error(`webhook secret ${row.id} is sealed by master key ${row.master_key_id}, not PAYLOAD_MASTER_KEY`);
      await knex('webhook_secrets').where({ id: row.id }).update({ secret: open(master, row.secret_ciphertext, aad(row.id)).toString('utf8') });
    }
  }
  await knex.schema.alterTable('webhook_secrets', (t) => {
    t.dropColumns('secret_ciphertext', 'master_key_id');
    t.text('secret').notNullable().alter();
  });
}
