// The bare worker process of `npm run bench` (task queue of its own, default worker options;
// BARE_WORKER_MAX_CACHED_WORKFLOWS bounds its sticky cache like the product worker's, to compare like with like).
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { bareActivities } from './activities';

async function main(): Promise<void> {
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.BARE_TASK_QUEUE ?? 'bench-bare',
    workflowsPath: require.resolve('./workflows'),
    activities: bareActivities,
    ...(process.env.BARE_WORKER_MAX_CACHED_WORKFLOWS ? { maxCachedWorkflows: Number(process.env.BARE_WORKER_MAX_CACHED_WORKFLOWS) } : {}),
  });
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`bare worker failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
