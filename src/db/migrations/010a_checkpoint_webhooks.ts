import type { Knex } from 'knex';

// Issue 12: ledger checkpoints go to the customer as signed webhooks (event audit_checkpoint),
// so a copy of each lives outside our database.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_event_check;
    ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_check
      CHECK (event IN ('session_end', 'decision', 'test', 'audit_checkpoint'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_event_check;
    ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_check
      CHECK (event IN ('session_end', 'decision', 'test'));
  `);
}
