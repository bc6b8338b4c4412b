import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { customSearchAttributes } from './searchAttributes';

/** Adds whichever of our custom search attributes the namespace lacks; returns their names. */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  // The time-skipping test server cannot list them; there, every attribute is simply added.
  const existing = await connection.operatorService.listSearchAttributes({ namespace }).catch((err: { code?: number }) => {
    if (err.code === 12 /* UNIMPLEMENTED */) return { customAttributes: {} };
    throw err;
  });
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
  return missing.map((a) => a.name);
}
