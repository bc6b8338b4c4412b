// The CorrelationId search attribute holds a keyed hash of the customer's reference, never the
// reference itself: search attributes are not encrypted by the payload codec, and an upsert's
// value stays in the history's event even after a later upsert clears it. Operators compute the
// value to search for with `npm run --silent admin -- correlation-id-hash --org ID --value REF`.
import { createHmac } from 'node:crypto';

export function correlationIdHash(hmacKey: string, organizationId: string, correlationId: string): string {
  const key = createHmac('sha256', hmacKey).update('search-attribute:CorrelationId').digest();
  return `h1:${createHmac('sha256', key).update(`${organizationId}\n${correlationId}`).digest('hex').slice(0, 32)}`;
}
