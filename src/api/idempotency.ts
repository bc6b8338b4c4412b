import { createHash } from 'node:crypto';
import type { Response } from 'express';
import type { Db } from '../db/knex';
import { canonicalJson } from '../domain/canonicalJson';
import { problems } from './problem';

const KEY_TTL_MS = 24 * 60 * 60 * 1000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * `Idempotency-Key`: the first request with a key runs; a repeat with the same body within
 * 24 h gets the stored response; with another body, 422; while the first is still running, 409.
 */
export async function withIdempotency(
  db: Db,
  scope: { organizationId: string; route: string; key: string | undefined; body: unknown },
  run: () => Promise<{ status: number; body: unknown }>,
): Promise<{ status: number; body: unknown; replayed: boolean }> {
  if (scope.key === undefined) return { ...(await run()), replayed: false };
  if (!KEY_PATTERN.test(scope.key)) {
    throw problems.validation([{ path: 'header.Idempotency-Key', message: 'must be 1-255 visible ASCII characters' }]);
  }
  const requestHash = createHash('sha256').update(canonicalJson(scope.body ?? null)).digest('hex');
  const where = { organization_id: scope.organizationId, scope: scope.route, key: scope.key };

  // Expired keys are forgotten lazily, when reused.
  await db('idempotency_keys').where(where).andWhere('created_at', '<', new Date(Date.now() - KEY_TTL_MS)).delete();
  const claimed = await db('idempotency_keys')
    .insert({ ...where, request_hash: requestHash })
    .onConflict(['organization_id', 'scope', 'key'])
    .ignore()
    .returning('key');
  if (claimed.length === 0) {
    const existing = await db('idempotency_keys').where(where).first();
    if (existing.request_hash !== requestHash) throw problems.idempotencyMismatch();
    if (existing.response_status === null) throw problems.conflict('a request with this Idempotency-Key is still in progress');
    return { status: existing.response_status, body: existing.response_body, replayed: true };
  }
  try {
    const result = await run();
    await db('idempotency_keys').where(where).update({ response_status: result.status, response_body: JSON.stringify(result.body) });
    return { ...result, replayed: false };
  } catch (err) {
    // A refused request (4xx) is not remembered: the client may fix it and retry the same key.
    await db('idempotency_keys').where(where).delete();
    throw err;
  }
}

/** Answers with a `withIdempotency` result (or `body` built from it), marking replays. */
export function replyIdempotent(res: Response, result: { status: number; body: unknown; replayed: boolean }, body: unknown = result.body): void {
  if (result.replayed) res.set('Idempotent-Replayed', 'true');
  res.status(result.status).json(body);
}
