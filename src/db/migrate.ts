import { Client } from 'pg';
import { createDb } from './knex';
import { migrationSource } from './migrations';

function splitDatabaseUrl(databaseUrl: string): { adminUrl: string; database: string } {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(database)) throw new Error(`DATABASE_URL names an unusable database: "${database}"`);
  url.pathname = '/postgres';
  return { adminUrl: url.toString(), database };
}

/** Creates the database named in the URL if it does not exist. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const { adminUrl, database } = splitDatabaseUrl(databaseUrl);
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      try {
        await admin.query(`CREATE DATABASE "${database}"`);
      } catch (err) {
        // Another process created it first.
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await admin.end();
  }
}

export async function migrateLatest(databaseUrl: string): Promise<string[]> {
  const db = createDb(databaseUrl, { max: 1 });
  try {
    const [, applied] = await db.migrate.latest({ migrationSource });
    return applied as string[];
  } finally {
    await db.destroy();
  }
}

export async function prepareDatabase(databaseUrl: string): Promise<void> {
  await ensureDatabase(databaseUrl);
  await migrateLatest(databaseUrl);
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const { adminUrl, database } = splitDatabaseUrl(databaseUrl);
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
