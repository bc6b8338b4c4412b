import type { Knex } from 'knex';

// Data keys of the payload codec (docs/architecture.md ("Payload encryption")): one per session, standalone analysis and
// organization, plus one for the deployment, each wrapped (AES-256-GCM) by the master key named
// in master_key_id. A purge sets wrapped_key to NULL in the record's own transaction and keeps
// the row as a tombstone, so decoding says "key destroyed" and no new key is ever made for it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('data_keys', (t) => {
    t.uuid('id').primary();
    t.text('scope').notNullable().unique();
    t.binary('wrapped_key').nullable();
    t.text('master_key_id').nullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('destroyed_at', { useTz: true, precision: 3 }).nullable();
  });
  await knex.raw(
    'ALTER TABLE data_keys ADD CONSTRAINT data_keys_destroyed_has_no_key CHECK ((destroyed_at IS NULL) = (wrapped_key IS NOT NULL))',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('data_keys');
}
