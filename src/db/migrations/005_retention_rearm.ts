import type { Knex } from 'knex';

// Retention re-arm (docs/settings.md): every change of an organization's dataRetention bumps
// its revision, which orders the re-arm signals a workflow may receive from successive
// changes. The partial index serves the re-arm's keyset paging and the retention preview
// over standalone analyses (sessions already have (organization_id, created_at, id)); the
// other one lets a purge find the stored response of the request that created the session.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('settings', (t) => {
    t.bigInteger('retention_revision').notNullable().defaultTo(0);
  });
  await knex.raw(
    'CREATE INDEX analyses_standalone_by_org ON analyses (organization_id, created_at, id) WHERE session_id IS NULL',
  );
  await knex.raw(
    `CREATE INDEX idempotency_keys_created_session ON idempotency_keys (organization_id, (response_body->>'id')) WHERE scope = 'POST /v1/sessions'`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS idempotency_keys_created_session');
  await knex.raw('DROP INDEX IF EXISTS analyses_standalone_by_org');
  await knex.schema.alterTable('settings', (t) => t.dropColumn('retention_revision'));
}
