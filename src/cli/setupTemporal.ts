// Idempotent Temporal setup for a real cluster, also run by `npm start`:
// `npm run temporal:setup` with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_TASK_QUEUE /
// RECONCILE_INTERVAL set. Registers the custom search attributes (SPEC §9) and creates, or
// updates, the reconciler's Schedule (docs/reliability.md).
import { Client, Connection } from '@temporalio/client';
import { configSchema } from '../config';
import { registerSearchAttributes } from '../temporal/registerSearchAttributes';
import { ensureReconcilerSchedule } from '../temporal/reconcilerSchedule';

async function main(): Promise<void> {
  const parsed = configSchema
    .pick({ TEMPORAL_ADDRESS: true, TEMPORAL_NAMESPACE: true, TEMPORAL_TASK_QUEUE: true, RECONCILE_INTERVAL: true })
    .safeParse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== '')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid configuration: ${String(issue.path[0])} ${issue.message}`);
  }
  const { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, TEMPORAL_TASK_QUEUE: taskQueue, RECONCILE_INTERVAL: interval } = parsed.data;
  const connection = await Connection.connect({ address });
  try {
    const added = await registerSearchAttributes(connection, namespace);
    process.stdout.write(`${JSON.stringify({ msg: 'search attributes ready', namespace, added })}\n`);
    const schedule = await ensureReconcilerSchedule(new Client({ connection, namespace }), { taskQueue, interval });
    process.stdout.write(`${JSON.stringify({ msg: 'reconciler schedule ready', namespace, taskQueue, interval, schedule })}\n`);
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(`temporal setup failed: ${(err as Error).message}\n`);
  process.exit(1);
});
