// `npm run migrate`: create the database if missing and apply every migration.
import { embeddedDatabaseUrl } from '../db/defaultUrl';
import { migrateLatest } from '../db/migrate';
import { ensureDatabase } from '../db/migrate';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL || embeddedDatabaseUrl();
  await ensureDatabase(url);
  const applied = await migrateLatest(url);
  process.stdout.write(`${JSON.stringify({ msg: 'database migrated', applied })}\n`);
}

main().catch((err) => {
  process.stderr.write(`migration failed: ${(err as Error).message}\n`);
  process.exit(1);
});
