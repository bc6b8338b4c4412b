// Where the database is when DATABASE_URL is not set: the embedded PGlite server that
// `npm start` runs (src/cli/pglite.ts, PGLITE_PORT). Set DATABASE_URL for PostgreSQL.
export function embeddedDatabaseUrl(env: Record<string, string | undefined> = process.env): string {
  return `postgres://postgres@127.0.0.1:${env.PGLITE_PORT || '5433'}/postgres`;
}
