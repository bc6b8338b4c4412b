import type { Knex } from 'knex';

// The application's database role (docs/security.md): not the owner of any table, so it can
// neither disable the ledger's triggers nor alter tables; on the ledger it may only read and
// append. Migrations run as the owner (MIGRATION_DATABASE_URL) and call this afterwards, so
// tables added by later migrations are granted too.

/** Append-only for the application: SELECT and INSERT (plus the chaining columns below), nothing else. */
export const LEDGER_TABLES = ['audit_events', 'audit_checkpoints', 'audit_signing_keys'];
/** audit_heads: also UPDATE, which its trigger lets move forward only (migration 010). */
export const LEDGER_HEAD_TABLE = 'audit_heads';
/**
 * audit_events: also UPDATE of the three chaining columns only, which its trigger allows once,
 * on an unchained event (migration 013: the sequencer chains committed events in batches).
 */
export const LEDGER_CHAINING_COLUMNS: Record<string, string[]> = { audit_events: ['seq', 'prev_hash', 'hash'] };

const ident = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain PostgreSQL role name: ${name}`);
  return `"${name}"`;
};

export async function grantAppRole(db: Knex, role: string): Promise<void> {
  const r = ident(role);
  const tables: string[] = (
    await db.raw(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
  ).rows.map((row: { tablename: string }) => row.tablename);
  await db.transaction(async (trx) => {
    await trx.raw(`GRANT USAGE ON SCHEMA public TO ${r}`);
    await trx.raw(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${r}`);
    for (const table of tables) {
      const t = ident(table);
      await trx.raw(`REVOKE ALL ON TABLE ${t} FROM ${r}`);
      if (table.startsWith('knex_migrations')) continue; // migrations are the owner's
      if (LEDGER_TABLES.includes(table)) {
        await trx.raw(`GRANT SELECT, INSERT ON TABLE ${t} TO ${r}`);
        const columns = LEDGER_CHAINING_COLUMNS[table];
        if (columns) await trx.raw(`GRANT UPDATE (${columns.map(ident).join(', ')}) ON TABLE ${t} TO ${r}`);
      }
      else if (table === LEDGER_HEAD_TABLE) await trx.raw(`GRANT SELECT, INSERT, UPDATE ON TABLE ${t} TO ${r}`);
      else await trx.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ${t} TO ${r}`);
    }
  });
}
