import type { Knex } from 'knex';

// Issue 10: appends no longer chain inside the caller's transaction. The caller inserts its
// event unchained (seq, prev_hash and hash NULL) and commits it with its change; a sequencer
// (src/audit/ledger.ts) locks the organization's head once and chains a batch of committed
// events in append_order. Issue 12 still holds: the one UPDATE the application may run on
// audit_events is "an unchained event gets its seq, prev_hash and hash, once". Everything else
// is refused by the trigger below (and by privileges: src/db/appRole.ts grants UPDATE on the
// three chaining columns only). DELETE and TRUNCATE stay refused.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE audit_events ALTER COLUMN seq DROP NOT NULL;
    ALTER TABLE audit_events ALTER COLUMN prev_hash DROP NOT NULL;
    ALTER TABLE audit_events ALTER COLUMN hash DROP NOT NULL;
    -- Chained or not, all three together.
    ALTER TABLE audit_events ADD CONSTRAINT audit_events_chained_together
      CHECK ((seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR (seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)) NOT VALID;
    ALTER TABLE audit_events VALIDATE CONSTRAINT audit_events_chained_together;

    -- The order in which the sequencer takes unchained events (a stable order: it never
    -- changes). Events chained before this migration have none; a new column without a
    -- default, then the default, so existing rows are not rewritten.
    CREATE SEQUENCE audit_events_append_order_seq;
    ALTER TABLE audit_events ADD COLUMN append_order bigint;
    ALTER TABLE audit_events ALTER COLUMN append_order SET DEFAULT nextval('audit_events_append_order_seq');
    ALTER SEQUENCE audit_events_append_order_seq OWNED BY audit_events.append_order;
    CREATE INDEX audit_events_unchained ON audit_events (organization_id, append_order) WHERE seq IS NULL;

    CREATE FUNCTION audit_events_chain_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE'
        AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
        AND NEW.seq IS NOT NULL AND NEW.seq > 0
        AND NEW.prev_hash ~ '^[0-9a-f]{64}$' AND NEW.hash ~ '^[0-9a-f]{64}$'
        AND (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash') = (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash')
      THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_events is append-only: % refused (the one update allowed chains an unchained event, once)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    -- Same trigger name as migration 002's, now with the one exception.
    DROP TRIGGER audit_events_no_update_delete ON audit_events;
    CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_chain_once();
    ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_update_delete;
  `);
}

export async function down(): Promise<void> {
  throw new Error('the ledger sequencer migration cannot be rolled back');
}
