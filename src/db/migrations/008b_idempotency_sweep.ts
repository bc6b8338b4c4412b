import type { Knex } from 'knex';

// The idempotency sweep (src/api/idempotency.ts) deletes the oldest expired keys: by creation.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS idempotency_keys_created_at');
}
