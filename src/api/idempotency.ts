import { createHash } from 'node:crypto';
import type { Response } from 'express';
import type { Db } from '../db/knex';
import { canonicalJson } from '../domain/canonicalJson';
import { problems } from './problem';

const KEY_TTL_MS = 24 * 60 * 60 * 1000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * A creation that commits its record before a call to Temporal saves, inside its own
 * transaction, the response the key will answer (`save`). From then on the key stays bound to
 * that record even if the request fails afterwards: a retry with the same key resumes the
 * creation (`resume`) and answers with the same response.
 */
export interface IdempotencyCheckpoint {
  /** Called with the new record's id before its transaction (fetches the key that seals the response). */
  prepare(recordId: string): Promise<void>;
  save(trx: Db, body: unknown): Promise<void>;
}

/**
 * Seals the stored response (it may hold a secret, e.g. the link token) under the record's
 * data key, so it is shredded with the record; a replay opens it and answers the same body.
 */
export interface ResponseSealer {
  prepare(recordId: string): Promise<void>;
  seal(body: unknown): Promise<unknown>;
  open(stored: unknown): Promise<unknown>;
}

/**
 * `Idempotency-Key`: the first request with a key runs; a repeat with the same body within
 * 24 h gets the stored response; with another body, 422; while the first is still running, 409
 * (unless it saved a checkpoint, see IdempotencyCheckpoint: then the repeat resumes it).
 */
export async function withIdempotency(
  db: Db,
  scope: { organizationId: string; route: string; key: string | undefined; body: unknown },
  run: (checkpoint: IdempotencyCheckpoint | undefined) => Promise<{ status: number; body: unknown }>,
  options: { resume?: (saved: unknown) => Promise<{ status: number; body: unknown }>; sealer?: ResponseSealer } = {},
): Promise<{ status: number; body: unknown; replayed: boolean }> {
  if (scope.key === undefined) return { ...(await run(undefined)), replayed: false };
  if (!KEY_PATTERN.test(scope.key)) {
    throw problems.validation([{ path: 'header.Idempotency-Key', message: 'must be 1-255 visible ASCII characters' }]);
  }
  const requestHash = createHash('sha256').update(canonicalJson(scope.body ?? null)).digest('hex');
  const where = { organization_id: scope.organizationId, scope: scope.route, key: scope.key };
  const stored = async (body: unknown) => JSON.stringify(options.sealer ? await options.sealer.seal(body) : body);
  const opened = async (body: unknown) => (options.sealer ? options.sealer.open(body) : body);
  const finish = async (result: { status: number; body: unknown }, replayed: boolean) => {
    await db('idempotency_keys').where(where).update({ response_status: result.status, response_body: await stored(result.body) });
    return { ...result, replayed };
  };

  // Expired keys are forgotten when reused, and swept: every new key removes up to
  // SWEEP_BATCH of the oldest expired ones (any organization), so stored responses do not
  // outlive their 24 h by more than the time to the next idempotent request.
  const cutoff = new Date(Date.now() - KEY_TTL_MS);
  await db('idempotency_keys').where(where).andWhere('created_at', '<', cutoff).delete();
  await sweepExpiredKeys(db, cutoff);
  const claimed = await db('idempotency_keys')
    .insert({ ...where, request_hash: requestHash })
    .onConflict(['organization_id', 'scope', 'key'])
    .ignore()
    .returning('key');
  if (claimed.length === 0) {
    const existing = await db('idempotency_keys').where(where).first();
    if (!existing) throw problems.conflict('a request with this Idempotency-Key is still in progress');
    if (existing.request_hash !== requestHash) throw problems.idempotencyMismatch();
    if (existing.response_status === null) {
      if (existing.response_body !== null && options.resume) return finish(await options.resume(await opened(existing.response_body)), true);
      throw problems.conflict('a request with this Idempotency-Key is still in progress');
    }
    return { status: existing.response_status, body: await opened(existing.response_body), replayed: true };
  }
  const checkpoint: IdempotencyCheckpoint = {
    prepare: async (recordId) => {
      await options.sealer?.prepare(recordId);
    },
    save: async (trx, body) => {
      await trx('idempotency_keys').where(where).update({ response_body: await stored(body) });
    },
  };
  try {
    return await finish(await run(checkpoint), false);
  } catch (err) {
    // A refused request (4xx) is not remembered: the client may fix it and retry the same key.
    // A checkpointed one is: its record exists, and the retry resumes it.
    await db('idempotency_keys').where(where).whereNull('response_body').delete();
    throw err;
  }
}

const SWEEP_BATCH = 100;

export async function sweepExpiredKeys(db: Db, cutoff = new Date(Date.now() - KEY_TTL_MS)): Promise<number> {
  const result = await db.raw(
    'DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)',
    [cutoff, SWEEP_BATCH],
  );
  return result.rowCount ?? 0;
}

/** Answers with a `withIdempotency` result (or `body` built from it), marking replays. */
export function replyIdempotent(res: Response, result: { status: number; body: unknown; replayed: boolean }, body: unknown = result.body): void {
  if (result.replayed) res.set('Idempotent-Replayed', 'true');
  res.status(result.status).json(body);
}
