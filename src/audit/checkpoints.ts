import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { problems } from '../api/problem';
import type { Db } from '../db/knex';
import { GENESIS_CHECKPOINT_HASH, signCheckpoint, type SignedCheckpoint, type SigningKey } from '../domain/ledgerCheckpoint';
import { log } from '../log';
import { recordDelivery } from '../webhooks/deliveries';
import { chainAllPending, chainBeforeRead } from './ledger';
import { startDeliveryWorkflow } from '../../activities/webhooks';

// Signed checkpoints of each organization's ledger head (src/domain/ledgerCheckpoint.ts):
// taken every N events or M minutes (takeDueCheckpoints, run by the API process) and on
// demand, stored append-only, and sent to the customer as an `audit_checkpoint` webhook.

interface CheckpointRow {
  id: string;
  organization_id: string;
  seq: string | number;
  event_hash: string;
  signed_at: Date;
  prev_checkpoint_hash: string;
  checkpoint_hash: string;
  key_id: string;
  signature: string;
}

export function checkpointView(row: CheckpointRow): SignedCheckpoint & { id: string } {
  return {
    id: row.id,
    organizationId: row.organization_id,
    seq: Number(row.seq),
    hash: row.event_hash,
    signedAt: row.signed_at.toISOString(),
    prevCheckpointHash: row.prev_checkpoint_hash,
    keyId: row.key_id,
    checkpointHash: row.checkpoint_hash,
    signature: row.signature,
  };
}

export interface CheckpointDeps {
  db: Db;
  key: SigningKey;
  /** The ledger's HMAC key: checkpoints first chain what is committed (chainPending). */
  hmacKey: string;
  temporal?: Client;
  taskQueue?: string;
  retryDelaysSeconds?: number[];
}

/** Records the current signing key's public half; old keys stay listed so old checkpoints verify. */
export async function registerSigningKey(db: Db, key: SigningKey): Promise<void> {
  await db('audit_signing_keys').insert({ key_id: key.keyId, public_key: key.publicKeyPem }).onConflict('key_id').ignore();
}

export async function listPublicKeys(db: Db, current: SigningKey | undefined) {
  const rows: { key_id: string; public_key: string; created_at: Date }[] = await db('audit_signing_keys').orderBy('created_at');
  return {
    algorithm: 'Ed25519',
    currentKeyId: current?.keyId ?? null,
    keys: rows.map((r) => ({ keyId: r.key_id, publicKey: r.public_key, createdAt: r.created_at.toISOString(), current: r.key_id === current?.keyId })),
  };
}

/**
 * Signs the organization's head unless the newest checkpoint already covers it. The head row is
 * locked meanwhile: the sequencer waits a moment (appends do not), and two processes never sign
 * two successors.
 */
export async function takeCheckpoint(deps: CheckpointDeps, organizationId: string): Promise<{ checkpoint: SignedCheckpoint & { id: string }; created: boolean } | null> {
  await registerSigningKey(deps.db, deps.key);
  // The head covers chained events only: chain what is committed first.
  await chainBeforeRead(deps.db, deps.hmacKey, organizationId);
  const result = await deps.db.transaction(async (trx) => {
    const head = await trx('audit_heads').where({ organization_id: organizationId }).forUpdate().first('seq', 'hash');
    if (!head || Number(head.seq) === 0) return null;
    const latest: CheckpointRow | undefined = await trx('audit_checkpoints').where({ organization_id: organizationId }).orderBy('seq', 'desc').first();
    if (latest && Number(latest.seq) === Number(head.seq)) return { checkpoint: checkpointView(latest), created: false };
    const signed = signCheckpoint(deps.key, {
      organizationId,
      seq: Number(head.seq),
      hash: head.hash,
      signedAt: new Date().toISOString(),
      prevCheckpointHash: latest?.checkpoint_hash ?? GENESIS_CHECKPOINT_HASH,
    });
    const id = randomUUID();
    await trx('audit_checkpoints').insert({
      id,
      organization_id: organizationId,
      seq: signed.seq,
      event_hash: signed.hash,
      signed_at: new Date(signed.signedAt),
      prev_checkpoint_hash: signed.prevCheckpointHash,
      checkpoint_hash: signed.checkpointHash,
      key_id: signed.keyId,
      signature: signed.signature,
    });
    return { checkpoint: { id, ...signed }, created: true };
  });
  if (result?.created) await sendCheckpointWebhook(deps, result.checkpoint);
  return result;
}

/** After the commit: the checkpoint as a signed webhook, through the usual delivery workflow. */
async function sendCheckpointWebhook(deps: CheckpointDeps, checkpoint: SignedCheckpoint & { id: string }): Promise<void> {
  if (!deps.temporal || !deps.taskQueue || !deps.retryDelaysSeconds) return;
  const { id, ...payload } = checkpoint;
  const delivery = await recordDelivery(deps.db, {
    organizationId: checkpoint.organizationId,
    event: 'audit_checkpoint',
    eventKey: `audit_checkpoint:${id}`,
    sessionId: null,
    analysisId: null,
    payload: { type: 'audit.checkpoint', ...payload },
  });
  try {
    await startDeliveryWorkflow(deps.temporal, {
      input: { deliveryId: delivery.id, organizationId: checkpoint.organizationId, series: 1, retryDelaysSeconds: deps.retryDelaysSeconds },
      taskQueue: deps.taskQueue,
      summary: `audit checkpoint webhook (seq ${checkpoint.seq})`,
    });
  } catch (err) {
    // The delivery stays pending in the log; an operator can redeliver it.
    log.warn('audit checkpoint webhook not started', { deliveryId: delivery.id, error: String((err as Error)?.message ?? err) });
  }
}

/** Organizations whose head is N events or M minutes past their newest checkpoint: checkpoint them. */
export async function takeDueCheckpoints(deps: CheckpointDeps, everyEvents: number, everyMinutes: number): Promise<number> {
  // Heads count chained events: chain every organization's committed events first.
  await chainAllPending(deps.db, deps.hmacKey);
  const due: { organization_id: string }[] = await deps.db
    .select('h.organization_id')
    .from('audit_heads as h')
    .joinRaw(
      `LEFT JOIN LATERAL (SELECT c.seq, c.signed_at FROM audit_checkpoints c WHERE c.organization_id = h.organization_id ORDER BY c.seq DESC LIMIT 1) c ON true`,
    )
    .whereRaw('h.seq > coalesce(c.seq, 0)')
    .andWhere((q) =>
      q.whereRaw('h.seq - coalesce(c.seq, 0) >= ?', [everyEvents]).orWhereRaw(`coalesce(c.signed_at, '-infinity') <= now() - make_interval(mins => ?)`, [everyMinutes]),
    );
  let taken = 0;
  for (const { organization_id } of due) {
    try {
      if ((await takeCheckpoint(deps, organization_id))?.created) taken += 1;
    } catch (err) {
      // Another replica signed the same head first (unique constraints): nothing lost.
      if ((err as { code?: string }).code !== '23505') throw err;
    }
  }
  return taken;
}

/** Newest first, keyset on seq (the cursor is the last seq of the previous page). */
export async function listCheckpoints(db: Db, organizationId: string, q: { limit: number; cursor?: string }) {
  const query = db<CheckpointRow>('audit_checkpoints').where({ organization_id: organizationId });
  if (q.cursor !== undefined) {
    const before = Number(Buffer.from(q.cursor, 'base64url').toString('utf8'));
    if (!Number.isSafeInteger(before) || before < 1) throw problems.validation([{ path: 'query.cursor', message: 'is not a cursor returned by this API' }]);
    query.andWhere('seq', '<', before);
  }
  const rows: CheckpointRow[] = await query.orderBy('seq', 'desc').limit(q.limit + 1);
  const more = rows.length > q.limit;
  const data = (more ? rows.slice(0, q.limit) : rows).map(checkpointView);
  return { data, nextCursor: more ? Buffer.from(String(data[data.length - 1].seq)).toString('base64url') : null };
}

/** Every checkpoint of the organization, oldest first (verification). */
export async function allCheckpoints(db: Db, organizationId: string): Promise<SignedCheckpoint[]> {
  const rows: CheckpointRow[] = await db('audit_checkpoints').where({ organization_id: organizationId }).orderBy('seq');
  return rows.map(checkpointView);
}
