import { temporalConnectionOptions } from './connectionOptions';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import path from 'node:path';
import { createActivities, type Activities } from '../../activities';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { createTemporalClient } from './client';
import { setStartDeadline } from './deadlines';
import { sendWebhookRequest } from '../webhooks/sendWebhookRequest';
import { dataConverter, failureConverterPath } from '../payloads/dataConverter';
import type { DataKeyStore } from '../payloads/keyStore';
import { LEDGER_SEQUENCER_OPTIONS, startLedgerSequencer } from '../audit/ledger';

export const workflowsPath = path.resolve(__dirname, '../../workflows/index.ts');

/**
 * Modules evaluated once in the workflow thread's shared V8 context instead of once per workflow
 * context (`preloadModules`): zod. Without it every workflow the worker creates or replays
 * evaluates zod again, about 0.7 MB of V8 heap per workflow context
 * (`node --expose-gc --import tsx bench/workflowContextHeap.ts`). See ./workflowPreload.ts.
 */
export const sharedWorkflowModules = [path.resolve(__dirname, 'workflowPreload.ts')];

let cachedBundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundling takes seconds; processes that build several workers (tests, bench) share one. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  cachedBundle ??= bundleWorkflowCode({ workflowsPath, failureConverterPath, preloadModules: sharedWorkflowModules, logger: quietBundlerLogger });
  return cachedBundle;
}

const noop = (): void => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

export async function createWorker(opts: {
  config: Config;
  db: Db;
  /** The data keys of the payload codec (src/payloads). */
  keys: DataKeyStore;
  connection?: NativeConnection;
  /** Activities start delivery workflows through this client. */
  client?: Client;
  send?: typeof sendWebhookRequest;
  /** The activities' clock; tests on the time-skipping server pass the server's time. */
  clock?: () => Date;
  taskQueue?: string;
  /** For fault-injection tests: wrap the real activities. */
  wrapActivities?: (activities: Activities) => Activities;
}): Promise<{ worker: Worker; connection: NativeConnection; client: Client }> {
  const connection = opts.connection ?? (await NativeConnection.connect(temporalConnectionOptions(opts.config)));
  const client = opts.client ?? (await createTemporalClient(opts.config, opts.keys));
  // Chains the activities' appends after their commit (and, every few seconds, any left unchained).
  startLedgerSequencer(opts.db, opts.config.AUDIT_HMAC_KEY, LEDGER_SEQUENCER_OPTIONS);
  // The reconciler's starts are bounded like the API's.
  setStartDeadline(client, opts.config.TEMPORAL_START_DEADLINE_MS);
  const worker = await Worker.create({
    connection,
    namespace: opts.config.TEMPORAL_NAMESPACE,
    taskQueue: opts.taskQueue ?? opts.config.TEMPORAL_TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    // Lingering: a workflow replays its history after its own purge destroyed the key.
    dataConverter: dataConverter(opts.keys, { lingering: true }),
    activities: (opts.wrapActivities ?? ((a) => a))(
      createActivities({ db: opts.db, keys: opts.keys, temporal: client, send: opts.send ?? sendWebhookRequest, config: opts.config, clock: opts.clock }),
    ),
    maxCachedWorkflows: opts.config.WORKER_MAX_CACHED_WORKFLOWS,
    ...(opts.config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS !== undefined && {
      maxConcurrentWorkflowTaskExecutions: opts.config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    }),
    ...(opts.config.WORKER_MAX_CONCURRENT_ACTIVITIES !== undefined && {
      maxConcurrentActivityTaskExecutions: opts.config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    }),
    // SIGTERM: stop polling, let running activities finish within this grace, then hand back.
    shutdownGraceTime: '20 seconds',
  });
  return { worker, connection, client };
}
