// The API process. SIGTERM/SIGINT: stop accepting, let in-flight requests finish, then exit.
import type { Server } from 'node:http';
import { createApp } from './api/app';
import { loadConfigOrExit } from './config';
import { createDb } from './db/knex';
import { log } from './log';
import { createTemporalClient } from './temporal/client';
import { DataKeyStore, MasterKeys } from './payloads/keyStore';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const db = createDb(config.DATABASE_URL);
  const keys = new DataKeyStore(db, MasterKeys.fromConfig(config));
  const temporal = await createTemporalClient(config, keys);
  const app = createApp({ config, db, temporal, keys });
  const server: Server = app.listen(config.PORT, () => {
    log.info('api listening', { port: config.PORT, publicBaseUrl: config.PUBLIC_BASE_URL });
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('api stopping', { signal });
    server.close(async () => {
      await temporal.connection.close();
      await db.destroy();
      log.info('api stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    // Requests that hang past the grace period are cut.
    setTimeout(() => process.exit(1), 20_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  log.error('api failed to start', { error: (err as Error).message });
  process.exit(1);
});
