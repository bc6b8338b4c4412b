import type { Knex } from 'knex';

// Issue 12. The ledger against an insider with the application's database role:
// - audit_heads can only move forward, to an event that exists (no rewind, no delete);
// - signed checkpoints and the public keys that verify them are append-only like audit_events;
// - operator tokens can expire.
// Privileges (src/db/appRole.ts) do the rest: the application's role is not the owner, so it
// can neither disable these triggers nor UPDATE/DELETE/TRUNCATE the ledger tables.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('operators', (t) => {
    t.timestamp('token_expires_at', { useTz: true, precision: 3 });
  });

  await knex.schema.createTable('audit_signing_keys', (t) => {
    t.text('key_id').primary();
    t.text('public_key').notNullable(); // SPKI PEM
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('audit_checkpoints', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.bigInteger('seq').notNullable();
    t.text('event_hash').notNullable();
    t.timestamp('signed_at', { useTz: true, precision: 3 }).notNullable();
    t.text('prev_checkpoint_hash').notNullable();
    t.text('checkpoint_hash').notNullable();
    t.text('key_id').notNullable().references('audit_signing_keys.key_id');
    t.text('signature').notNullable();
    t.unique(['organization_id', 'seq']);
    // One successor per checkpoint: the chain cannot fork inside the database.
    t.unique(['organization_id', 'prev_checkpoint_hash']);
  });

  await knex.raw(`
    CREATE FUNCTION audit_heads_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        IF NEW.seq = 0 AND NEW.hash = repeat('0', 64) THEN RETURN NEW; END IF;
      ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.organization_id = OLD.organization_id AND NEW.seq > OLD.seq AND EXISTS (
          SELECT 1 FROM audit_events e WHERE e.organization_id = NEW.organization_id AND e.seq = NEW.seq AND e.hash = NEW.hash
        ) THEN RETURN NEW; END IF;
      END IF;
      RAISE EXCEPTION 'audit_heads only moves forward to an appended event: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_heads_forward BEFORE INSERT OR UPDATE OR DELETE ON audit_heads
      FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only();
    CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
    ALTER TABLE audit_heads ENABLE ALWAYS TRIGGER audit_heads_forward;
    ALTER TABLE audit_heads ENABLE ALWAYS TRIGGER audit_heads_no_truncate;

    CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
      FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
    CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
    ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_update_delete;
    ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_truncate;

    CREATE TRIGGER audit_signing_keys_no_update_delete BEFORE UPDATE OR DELETE ON audit_signing_keys
      FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
    CREATE TRIGGER audit_signing_keys_no_truncate BEFORE TRUNCATE ON audit_signing_keys
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
    ALTER TABLE audit_signing_keys ENABLE ALWAYS TRIGGER audit_signing_keys_no_update_delete;
    ALTER TABLE audit_signing_keys ENABLE ALWAYS TRIGGER audit_signing_keys_no_truncate;
  `);
}

export async function down(): Promise<void> {
  throw new Error('the ledger protection migration cannot be rolled back');
}
