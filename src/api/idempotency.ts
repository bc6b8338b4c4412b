import { createHash } from 'node:crypto';
import type { Response } from 'express';
import type { Db } from '../db/knex';
import { canonicalJson } from '../domain/canonicalJson';
import { describePermanentFailure } from '../domain/failures';
import { log } from '../log';
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
 * A claim (a key whose request has neither answered nor saved a checkpoint) older than this is
 * abandoned: its request failed while PostgreSQL was unreachable (so it could not release the
 * claim), or the API process died. The next request with the key takes the claim over. Longer
 * than a request holds a claim normally (its database and Temporal calls have deadlines of a
 * few seconds); should one still be running, the takeover fences it off: its checkpoint no
 * longer matches, and the record's transaction rolls back (see `save`).
 */
export const CLAIM_LEASE_MS = 30_000;
/** A failed request retries releasing its claim in the background this often, up to the lease. */
const RELEASE_RETRY_MS = 1_000;

/**
 * `Idempotency-Key`: the first request with a key runs; a repeat with the same body within
 * 24 h gets the stored response; with another body, 422; while the first is still running, 409
 * (unless it saved a checkpoint, see IdempotencyCheckpoint: then the repeat resumes it). A
 * request that fails releases its claim, at once or, with the database away, as soon as it is
 * back; a claim left behind anyway expires after CLAIM_LEASE_MS.
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

  // Expired keys are forgotten when reused, and swept: every new key removes up to
  // SWEEP_BATCH of the oldest expired ones (any organization), so stored responses do not
  // outlive their 24 h by more than the time to the next idempotent request.
  const cutoff = new Date(Date.now() - KEY_TTL_MS);
  await db('idempotency_keys').where(where).andWhere('created_at', '<', cutoff).delete();
  await sweepExpiredKeys(db, cutoff);
  let claimedAt = await claim(db, where, requestHash);
  if (claimedAt === null) {
    const existing = await db('idempotency_keys').where(where).first();
    if (!existing) {
      // Released (or swept) between our insert and this read: claim it again.
      claimedAt = await claim(db, where, requestHash);
      if (claimedAt === null) throw problems.conflict('a request with this Idempotency-Key is still in progress');
    } else {
      if (existing.request_hash !== requestHash) throw problems.idempotencyMismatch();
      if (existing.response_status !== null) {
        return { status: existing.response_status, body: await opened(existing.response_body), replayed: true };
      }
      if (existing.response_body !== null && options.resume) {
        const result = await options.resume(await opened(existing.response_body));
        await db('idempotency_keys').where(where).update({ response_status: result.status, response_body: await stored(result.body) });
        return { ...result, replayed: true };
      }
      throw problems.conflict('a request with this Idempotency-Key is still in progress');
    }
  }
  // Every later write names this claim: a request whose claim was taken over writes nothing.
  const ours = { ...where, created_at: claimedAt };
  const checkpoint: IdempotencyCheckpoint = {
    prepare: async (recordId) => {
      await options.sealer?.prepare(recordId);
    },
    save: async (trx, body) => {
      const saved = await trx('idempotency_keys').where(ours).whereNull('response_body').update({ response_body: await stored(body) });
      // Taken over (this request outlived its lease): the record's transaction must not commit.
      if (saved === 0) throw problems.conflict('a request with this Idempotency-Key is still in progress');
    },
  };
  let result: { status: number; body: unknown };
  try {
    result = await run(checkpoint);
  } catch (err) {
    // A refused request (4xx) is not remembered: the client may fix it and retry the same key.
    // A checkpointed one is: its record exists, and the retry resumes it.
    await settleClaim('release', claimedAt, () => db('idempotency_keys').where(ours).whereNull('response_body').delete());
    throw err;
  }
  // Done: the answer goes out even if PostgreSQL went away meanwhile (the write is retried).
  const body = await stored(result.body);
  await settleClaim('response', claimedAt, () => db('idempotency_keys').where(ours).update({ response_status: result.status, response_body: body }));
  return { ...result, replayed: false };
}

/**
 * Inserts the key's claim, or takes over an abandoned one (same body, no response, older than
 * the lease). Returns the claim's instant (it identifies the claim), or null: someone else's.
 */
async function claim(db: Db, where: Record<string, string>, requestHash: string): Promise<Date | null> {
  const inserted = await db('idempotency_keys')
    .insert({ ...where, request_hash: requestHash })
    .onConflict(['organization_id', 'scope', 'key'])
    .ignore()
    .returning('created_at');
  if (inserted.length > 0) return inserted[0].created_at as Date;
  // Re-checked by PostgreSQL under the row lock: of two takeovers, or a takeover and a
  // checkpoint save, only one matches.
  const taken = await db('idempotency_keys')
    .where(where)
    .andWhere({ request_hash: requestHash })
    .whereNull('response_status')
    .whereNull('response_body')
    .andWhere('created_at', '<', db.raw(`now() - make_interval(secs => ?)`, [CLAIM_LEASE_MS / 1000]))
    .update({ created_at: db.fn.now() })
    .returning('created_at');
  return taken.length > 0 ? (taken[0].created_at as Date) : null;
}

/**
 * Writes the claim's fate (its release, or its response) once, and with PostgreSQL unreachable
 * (often why the request failed) again in the background until it is written or the claim's
 * lease has passed (a retry takes the claim over from then on). Never throws.
 */
async function settleClaim(what: string, claimedAt: Date, write: () => Promise<unknown>): Promise<void> {
  const giveUpAt = claimedAt.getTime() + CLAIM_LEASE_MS;
  const retryLater = (err: unknown): void => {
    if (Date.now() + RELEASE_RETRY_MS >= giveUpAt) {
      log.warn(`idempotency claim: ${what} not written; the claim expires with its lease`, { error: describePermanentFailure(err) });
      return;
    }
    setTimeout(() => write().catch(retryLater), RELEASE_RETRY_MS).unref();
  };
  await write().catch(retryLater);
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
