// Idempotent registration of the custom search attributes on a real cluster (SPEC §9):
// `npm run temporal:setup-search-attributes` with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE set.
import { Connection } from '@temporalio/client';
import { registerSearchAttributes } from '../temporal/registerSearchAttributes';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS || '127.0.0.1:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
  const connection = await Connection.connect({ address });
  try {
    const added = await registerSearchAttributes(connection, namespace);
    process.stdout.write(`${JSON.stringify({ msg: 'search attributes ready', namespace, added })}\n`);
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(`search attribute setup failed: ${(err as Error).message}\n`);
  process.exit(1);
});
