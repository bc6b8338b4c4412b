import type { Knex } from 'knex';

// The operator action history (SPEC §8): append-only, hash-chained per organization.
// The database itself refuses UPDATE, DELETE and TRUNCATE; ENABLE ALWAYS keeps the triggers
// firing even for sessions with session_replication_role = replica.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.bigInteger('seq').notNullable();
    t.timestamp('occurred_at', { useTz: true, precision: 3 }).notNullable();
    t.text('actor_type').notNullable().checkIn(['operator', 'api_key', 'system', 'end_user']);
    t.text('actor_id').notNullable();
    t.text('actor_label');
    t.text('action').notNullable();
    t.text('category').notNullable().checkIn(['creation', 'modification', 'deletion', 'decision', 'access']);
    t.text('resource_type').notNullable();
    t.text('resource_id').notNullable();
    t.jsonb('changes');
    t.text('outcome').notNullable().checkIn(['success', 'failure']);
    t.text('request_id');
    t.text('ip');
    t.text('user_agent');
    // Makes an append retried by an activity land once.
    t.text('idempotency_key');
    t.text('prev_hash').notNullable();
    t.text('hash').notNullable();
    t.unique(['organization_id', 'seq']);
    t.unique(['organization_id', 'idempotency_key']);
    t.index(['organization_id', 'occurred_at']);
    t.index(['organization_id', 'resource_type', 'resource_id']);
  });

  // One row per organization: locking it serializes that organization's appends only.
  await knex.schema.createTable('audit_heads', (t) => {
    t.uuid('organization_id').primary().references('organizations.id');
    t.bigInteger('seq').notNullable();
    t.text('hash').notNullable();
  });

  await knex.raw(`
    CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
    ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_update_delete;
    ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_truncate;
  `);
}

export async function down(): Promise<void> {
  // The ledger is never dropped by a migration rollback.
  throw new Error('the audit ledger migration cannot be rolled back');
}
