import type { Knex } from 'knex';

// Analysts' decision comments live beside the analysis (free text may hold personal data,
// so it is purged with it and never enters the ledger or a workflow payload).
// Sessions and standalone analyses remember when retention will purge them.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('decision_comments', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.uuid('analysis_id').notNullable().references('analyses.id');
    t.text('comment');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['analysis_id']);
  });
  await knex.schema.alterTable('sessions', (t) => {
    t.timestamp('purge_at', { useTz: true, precision: 3 });
  });
  await knex.schema.alterTable('analyses', (t) => {
    t.timestamp('purge_at', { useTz: true, precision: 3 });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('analyses', (t) => t.dropColumn('purge_at'));
  await knex.schema.alterTable('sessions', (t) => t.dropColumn('purge_at'));
  await knex.schema.dropTable('decision_comments');
}
