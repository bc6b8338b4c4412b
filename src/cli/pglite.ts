// The embedded database of `npm start` when no DATABASE_URL is given: PGlite (PostgreSQL
// compiled to WebAssembly) persisted in .data/pglite, served over the PostgreSQL wire protocol
// by pglite-socket, so the API, the worker and the migrations use the same pg/knex code as
// with a real server. For local runs only: production and the test suite use PostgreSQL.
//   PGLITE_PORT (default 5433), PGLITE_DIR (default .data/pglite)
// Prints one JSON line {"msg":"pglite ready","databaseUrl":…} once it accepts connections.
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

async function main(): Promise<void> {
  const port = Number(process.env.PGLITE_PORT ?? 5433);
  const dir = path.resolve(process.env.PGLITE_DIR ?? '.data/pglite');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PGLITE_PORT must be a port number, not ${process.env.PGLITE_PORT}`);
  fs.mkdirSync(dir, { recursive: true });
  const db = await PGlite.create({ dataDir: dir });
  // PGlite runs one query at a time; the server multiplexes the pools of API and worker onto it.
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 64 });
  await server.start();
  process.stdout.write(`${JSON.stringify({ msg: 'pglite ready', dataDir: dir, databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres` })}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop().catch(() => undefined);
    await db.close().catch(() => undefined); // flushes to .data/pglite
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`pglite failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
