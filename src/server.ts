// The API process. SIGTERM/SIGINT: stop accepting, let in-flight requests finish, then exit.
import type { Server } from 'node:http';
import { createApp, createMetricsApp } from './api/app';
import { loadConfigOrExit } from './config';
import { createDb } from './db/knex';
import { log } from './log';
import { createTemporalClient } from './temporal/client';
import { takeDueCheckpoints } from './audit/checkpoints';
import { stopLedgerSequencer } from './audit/ledger';
import { checkpointDeps } from './api/routes/auditEvents';
import { loadSigningKey } from './domain/ledgerCheckpoint';
import { DataKeyStore, KEY_STORE_POOL_MAX, MasterKeys } from './payloads/keyStore';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const db = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX });
  // Key lookups (codec server, sealed responses) on a pool of their own, as in the worker.
  const keys = new DataKeyStore(createDb(config.DATABASE_URL, { max: KEY_STORE_POOL_MAX }), MasterKeys.fromConfig(config));
  const temporal = await createTemporalClient(config, keys);
  const app = createApp({ config, db, temporal, keys });
  // HOST is loopback whenever WEBHOOK_ALLOW_PRIVATE_NETWORKS is on (src/config.ts).
  const server: Server = app.listen(config.PORT, config.HOST, () => {
    log.info('api listening', { host: config.HOST, port: config.PORT, publicBaseUrl: config.PUBLIC_BASE_URL });
  });

  // Prometheus scrapes its own listener (loopback by default), never published with the API.
  const metricsServer =
    config.METRICS_PORT === undefined
      ? undefined
      : createMetricsApp({ config, db }).listen(config.METRICS_PORT, config.METRICS_HOST, () => {
          log.info('metrics listening', { host: config.METRICS_HOST, port: config.METRICS_PORT });
        });

  // Ledger checkpoints every AUDIT_CHECKPOINT_EVERY_EVENTS events or _MINUTES minutes; replicas
  // may all run this (the unique constraints let one signature per head through).
  let checkpointTimer: NodeJS.Timeout | undefined;
  if (config.AUDIT_SIGNING_KEY) {
    const deps = checkpointDeps({ db, temporal, config, signingKey: loadSigningKey(config.AUDIT_SIGNING_KEY) });
    const tick = () => {
      takeDueCheckpoints(deps, config.AUDIT_CHECKPOINT_EVERY_EVENTS, config.AUDIT_CHECKPOINT_EVERY_MINUTES)
        .catch((err) => log.warn('audit checkpoints failed', { error: String((err as Error)?.message ?? err) }))
        .finally(() => {
          if (!stopping) checkpointTimer = setTimeout(tick, config.AUDIT_CHECKPOINT_POLL_SECONDS * 1000).unref();
        });
    };
    checkpointTimer = setTimeout(tick, 1000).unref();
  } else {
    log.warn('AUDIT_SIGNING_KEY is not set: no signed ledger checkpoints (docs/security.md)');
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('api stopping', { signal });
    metricsServer?.close();
    clearTimeout(checkpointTimer);
    server.close(async () => {
      await temporal.connection.close();
      // In-flight chaining finishes; what is left is chained by the next process or reader.
      await stopLedgerSequencer(db);
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
