// The worker process: runs journey-session and webhook-delivery workflows and their activities.
import { Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from './src/config';
import { createDb } from './src/db/knex';
import { log } from './src/log';
import { createWorker } from './src/temporal/worker';
import { DataKeyStore, MasterKeys } from './src/payloads/keyStore';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  // SIGINT/SIGTERM make the worker drain (in-flight activities finish or go back to Temporal).
  Runtime.install({
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(config.TEMPORAL_WORKER_METRICS_ADDRESS && {
      telemetryOptions: { metrics: { prometheus: { bindAddress: config.TEMPORAL_WORKER_METRICS_ADDRESS } } },
    }),
  });
  const db = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX });
  const { worker, connection, client } = await createWorker({ config, db, keys: new DataKeyStore(db, MasterKeys.fromConfig(config)) });
  log.info('worker started', { taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
  await worker.run();
  await connection.close();
  await client.connection.close();
  await db.destroy();
  log.info('worker stopped');
}

main().catch((err) => {
  log.error('worker failed', { error: (err as Error).message });
  process.exit(1);
});
