import type { Knex } from 'knex';

// The webhook delivery log as an operator reads it (SPEC §5): which attempt series is the
// live one (redeliveries bump it), and indexes for the list's filters.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    // The newest attempt series; only that series may still change the delivery's status.
    t.integer('current_series').notNullable().defaultTo(1);
    t.index(['organization_id', 'session_id']);
    t.index(['organization_id', 'status', 'created_at', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.dropIndex(['organization_id', 'status', 'created_at', 'id']);
    t.dropIndex(['organization_id', 'session_id']);
    t.dropColumn('current_series');
  });
}
