// A decision sent with an `Idempotency-Key` is one request however often it is retried: its
// update id and its comment's row id are derived from the key, so a retry after a 503 (whose
// update may have gone through after the API stopped waiting) reaches Temporal as the same
// update and gets the first one's outcome instead of being recorded again. The body is part of
// the derivation: the same key with another decision is another request. Keyed (HMAC), because
// the update id is kept in clear in the workflow's history and the body may hold a comment.
import { createHmac } from 'node:crypto';
import { canonicalJson } from './canonicalJson';

export interface DecisionRequestIds {
  /** The `decide` update's id. */
  updateId: string;
  /** The `decision_comments` row's id (a UUID). */
  commentId: string;
}

export function decisionRequestIds(
  hmacKey: string,
  request: { organizationId: string; analysisId: string; idempotencyKey: string; body: unknown },
): DecisionRequestIds {
  const key = createHmac('sha256', hmacKey).update('decision-request').digest();
  const digest = createHmac('sha256', key)
    .update(canonicalJson([request.organizationId, request.analysisId, request.idempotencyKey, request.body ?? null]))
    .digest('hex');
  // The first 32 hex digits laid out as a UUID (version nibble 8: custom), for the uuid column.
  const u = `${digest.slice(0, 12)}8${digest.slice(13, 16)}${((parseInt(digest[16], 16) & 0x3) | 0x8).toString(16)}${digest.slice(17, 32)}`;
  return {
    updateId: `decision-${digest.slice(32, 64)}`,
    commentId: `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20, 32)}`,
  };
}
