// `npm run migrate`: create the database if missing and apply every migration, as the owner
// (MIGRATION_DATABASE_URL, else DATABASE_URL, else the embedded PGlite database of `npm start`).
// With APP_DATABASE_ROLE set, that role then gets the application's privileges
// (src/db/appRole.ts): the API and workers connect with it.
import { grantAppRole } from '../db/appRole';
import { embeddedDatabaseUrl } from '../db/defaultUrl';
import { createDb } from '../db/knex';
import { ensureDatabase, migrateLatest } from '../db/migrate';

async function main(): Promise<void> {
  const url = process.env.MIGRATION_DATABASE_URL || process.env.DATABASE_URL || embeddedDatabaseUrl();
  await ensureDatabase(url);
  const applied = await migrateLatest(url);
  const role = process.env.APP_DATABASE_ROLE;
  if (role) {
    const db = createDb(url, { max: 1 });
    try {
      await grantAppRole(db, role);
    } finally {
      await db.destroy();
    }
  }
  process.stdout.write(`${JSON.stringify({ msg: 'database migrated', applied, appRole: role ?? null })}\n`);
}

main().catch((err) => {
  process.stderr.write(`migration failed: ${(err as Error).message}\n`);
  process.exit(1);
});
