// The worker process: runs journey-session and webhook-delivery workflows and their activities.
import { Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from './src/config';
import { createDb } from './src/db/knex';
import { log } from './src/log';
import { createWorker } from './src/temporal/worker';
import { DataKeyStore, MasterKeys } from './src/payloads/keyStore';
import { describePermanentFailure } from './src/domain/failures';

const RESTART_DELAY_MS = 2_000;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (stopping = true));

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
  const keys = new DataKeyStore(db, MasterKeys.fromConfig(config));
  const { worker: first, connection, client } = await createWorker({ config, db, keys });
  log.info('worker started', { taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
  let worker = first;
  for (;;) {
    try {
      await worker.run(); // resolves once a shutdown signal drained it
      break;
    } catch (err) {
      // The SDK gives up a Worker whose payload codec failed while reporting a task failure
      // (PostgreSQL unreachable: its data keys cannot be read). Nothing is lost (Temporal keeps
      // every task), so this process builds a new Worker and goes on instead of exiting.
      log.error('worker failed, starting a new one', { error: describePermanentFailure(err) });
      await new Promise((resolve) => setTimeout(resolve, RESTART_DELAY_MS));
      if (stopping) break;
      // A new connection too: the failed Worker stays registered on its own (Temporal core
      // refuses a second Worker on the same connection and task queue).
      ({ worker } = await createWorker({ config, db, keys, client }));
    }
  }
  await connection.close();
  await client.connection.close();
  await db.destroy();
  log.info('worker stopped');
}

main().catch((err) => {
  log.error('worker failed', { error: (err as Error).message });
  process.exit(1);
});
