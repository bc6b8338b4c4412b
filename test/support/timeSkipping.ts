import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Config } from '../../src/config';
import { createDb, type Db } from '../../src/db/knex';
import { createWorker } from '../../src/temporal/worker';
import { stopLedgerSequencer } from '../../src/audit/ledger';
import { dataConverter } from '../../src/payloads/dataConverter';
import { DataKeyStore, MasterKeys } from '../../src/payloads/keyStore';
import { quietTemporalRuntime, registerTestSearchAttributes, testConfig } from './system';

// The time-skipping test server (from the pinned binary) with our search attributes, a worker
// running the real activities against the run's PostgreSQL database: long timers pass in
// milliseconds while the records show what a user would see.
export interface TimeSkippingSystem {
  env: TestWorkflowEnvironment;
  config: Config;
  db: Db;
  keys: DataKeyStore;
  worker: Worker;
  stop(): Promise<void>;
}

export async function startTimeSkippingSystem(
  overrides: Record<string, string> = {},
  options: { clock?: () => Date; keys?: (db: Db, master: MasterKeys) => DataKeyStore } = {},
): Promise<TimeSkippingSystem> {
  quietTemporalRuntime();
  const config = testConfig(overrides);
  const db = createDb(config.DATABASE_URL);
  const keys = (options.keys ?? ((d, m) => new DataKeyStore(d, m)))(db, MasterKeys.fromConfig(config));
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: process.env.TEMPORAL_TEST_SERVER_PATH! } },
    client: { dataConverter: dataConverter(keys) },
  });
  await registerTestSearchAttributes(env);
  const { worker } = await createWorker({ config, db, keys, connection: env.nativeConnection, client: env.client, clock: options.clock });
  const running = worker.run();
  return {
    env,
    config,
    db,
    keys,
    worker,
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
      await stopLedgerSequencer(db);
      await db.destroy();
    },
  };
}
