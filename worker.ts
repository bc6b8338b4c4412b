// The worker process: runs journey-session and webhook-delivery workflows and their activities.
import { Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from './src/config';
import { createDb, WORKER_DB_DEADLINES } from './src/db/knex';
import { stopLedgerSequencer } from './src/audit/ledger';
import { log } from './src/log';
import { createWorker } from './src/temporal/worker';
import { DataKeyStore, KEY_STORE_POOL_MAX, MasterKeys } from './src/payloads/keyStore';
import { describePermanentFailure } from './src/domain/failures';
import { answerMemoryRequests } from './src/temporal/workerMemory';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  // SIGINT/SIGTERM make the worker drain (in-flight activities finish or go back to Temporal).
  Runtime.install({
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(config.TEMPORAL_WORKER_METRICS_ADDRESS && {
      telemetryOptions: { metrics: { prometheus: { bindAddress: config.TEMPORAL_WORKER_METRICS_ADDRESS } } },
    }),
  });
  const db = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX }, WORKER_DB_DEADLINES);
  // The codec's key lookups on a pool of their own (KEY_STORE_POOL_MAX): never behind the activities.
  const keysDb = createDb(config.DATABASE_URL, { max: KEY_STORE_POOL_MAX });
  const keys = new DataKeyStore(keysDb, MasterKeys.fromConfig(config));
  const { worker, connection, client } = await createWorker({ config, db, keys });
  log.info('worker started', { taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
  answerMemoryRequests(); // the benchmark's memory breakdown (docs/performance.md)
  try {
    await worker.run(); // resolves once a shutdown signal drained it
  } catch (err) {
    // The SDK gives a Worker up (state FAILED) when, for instance, its payload codec cannot
    // read a data key (PostgreSQL unreachable and the key not in the cache) while it reports a
    // task's failure. Nothing is lost: Temporal keeps every task. A Worker built again in this
    // process is not safe (tried: the failed one's pollers kept taking workflow tasks it never
    // ran, which timed out until the process ended), so the process exits and its supervisor
    // (systemd, Kubernetes, the fault suite) starts a fresh one.
    log.error('worker failed; exiting for the supervisor to restart it', { error: describePermanentFailure(err) });
    process.exit(1);
  }
  await connection.close();
  await client.connection.close();
  await stopLedgerSequencer(db);
  await db.destroy();
  await keysDb.destroy();
  log.info('worker stopped');
}

main().catch((err) => {
  log.error('worker failed', { error: (err as Error).message });
  process.exit(1);
});
