// Idempotent registration of the custom search attributes on a real cluster (SPEC §9):
// `npm run temporal:setup-search-attributes` with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE set.
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { customSearchAttributes } from '../temporal/searchAttributes';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS || '127.0.0.1:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
  const connection = await Connection.connect({ address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set(Object.keys(existing.customAttributes ?? {}));
    const { IndexedValueType } = temporal.api.enums.v1;
    const missing = customSearchAttributes.filter((a) => !known.has(a.name));
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(
          missing.map((a) => [
            a.name,
            a.cliType === 'Keyword' ? IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD : IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
          ]),
        ),
      });
    }
    process.stdout.write(`${JSON.stringify({ msg: 'search attributes ready', namespace, added: missing.map((a) => a.name) })}\n`);
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(`search attribute setup failed: ${(err as Error).message}\n`);
  process.exit(1);
});
