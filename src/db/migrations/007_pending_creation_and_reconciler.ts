import type { Knex } from 'knex';

// Creation without a transaction across Temporal (docs/architecture.md, "Creating a session"):
// a session is committed `pending`, its workflow started afterwards by id, then it becomes
// `created`; a standalone analysis carries the same fact in `workflow_pending` (its status is
// the AI result). The reconciler (docs/reliability.md) starts what a crash left pending and
// counts what it repaired in `reconciler_counters`, one row per kind, read by /metrics by key.
export async function up(knex: Knex): Promise<void> {
  const { rows } = await knex.raw(
    `SELECT conname FROM pg_constraint WHERE conrelid = 'sessions'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%in_progress%'`,
  );
  for (const { conname } of rows as { conname: string }[]) await knex.raw('ALTER TABLE sessions DROP CONSTRAINT ??', [conname]);
  await knex.raw(
    `ALTER TABLE sessions ADD CONSTRAINT sessions_status_check CHECK (status IN ('pending', 'created', 'in_progress', 'completed', 'expired', 'purged'))`,
  );
  await knex.schema.alterTable('analyses', (t) => {
    t.boolean('workflow_pending').notNullable().defaultTo(false);
  });
  // The reconciler's sweeps: open records in creation order, overdue ones by deadline,
  // pending deliveries.
  await knex.raw(`CREATE INDEX sessions_open_by_created ON sessions (created_at, id) WHERE status <> 'purged'`);
  await knex.raw(`CREATE INDEX sessions_overdue ON sessions (purge_at, id) WHERE status <> 'purged' AND purge_at IS NOT NULL`);
  await knex.raw(`CREATE INDEX analyses_standalone_open ON analyses (created_at, id) WHERE session_id IS NULL AND status <> 'purged'`);
  await knex.raw(
    `CREATE INDEX analyses_standalone_overdue ON analyses (purge_at, id) WHERE session_id IS NULL AND status <> 'purged' AND purge_at IS NOT NULL`,
  );
  await knex.raw(`CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (created_at, id) WHERE status = 'pending'`);
  await knex.schema.createTable('reconciler_counters', (t) => {
    t.text('kind').primary();
    t.bigInteger('total').notNullable().defaultTo(0);
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('reconciler_counters');
  for (const index of ['webhook_deliveries_pending', 'analyses_standalone_overdue', 'analyses_standalone_open', 'sessions_overdue', 'sessions_open_by_created']) {
    await knex.raw('DROP INDEX IF EXISTS ??', [index]);
  }
  await knex.schema.alterTable('analyses', (t) => t.dropColumn('workflow_pending'));
  await knex.raw('ALTER TABLE sessions DROP CONSTRAINT sessions_status_check');
  await knex.raw(
    `ALTER TABLE sessions ADD CONSTRAINT sessions_status_check CHECK (status IN ('created', 'in_progress', 'completed', 'expired', 'purged'))`,
  );
}
