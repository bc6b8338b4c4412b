import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { auditEventHash, createChainVerifier, GENESIS_HASH } from '../domain/auditChain';

// The operator action history. Appends lock the organization's head row, so one
// organization's events get gap-free seqs in order while organizations never wait on each other.
export type ActorType = 'operator' | 'api_key' | 'system' | 'end_user';
export type AuditCategory = 'creation' | 'modification' | 'deletion' | 'decision' | 'access';

export interface AuditActor {
  type: ActorType;
  id: string;
  label?: string | null;
}

export interface AuditContext {
  requestId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

export interface AuditEventInput extends AuditContext {
  organizationId: string;
  actor: AuditActor;
  action: string;
  category: AuditCategory;
  resource: { type: string; id: string };
  /** Before/after of what changed; secrets masked by the caller (see maskSecret). */
  changes?: Record<string, unknown> | null;
  outcome?: 'success' | 'failure';
  /** Set by activities: a retried append with the same key returns the first event. */
  idempotencyKey?: string | null;
}

export interface AuditEventRow {
  id: string;
  organization_id: string;
  seq: string | number;
  occurred_at: Date;
  actor_type: ActorType;
  actor_id: string;
  actor_label: string | null;
  action: string;
  category: AuditCategory;
  resource_type: string;
  resource_id: string;
  changes: Record<string, unknown> | null;
  outcome: 'success' | 'failure';
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  idempotency_key: string | null;
  prev_hash: string;
  hash: string;
}

/** The API's view of an event; also exactly what the hash covers (minus the hashes). */
export function auditEventView(row: AuditEventRow) {
  return {
    id: row.id,
    seq: Number(row.seq),
    occurredAt: row.occurred_at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id, label: row.actor_label },
    action: row.action,
    category: row.category,
    resource: { type: row.resource_type, id: row.resource_id },
    changes: row.changes,
    outcome: row.outcome,
    requestId: row.request_id,
    ip: row.ip,
    userAgent: row.user_agent,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The hashed body: every recorded field of the event, including its organization. */
export function hashedBody(row: AuditEventRow): Record<string, unknown> {
  const { prevHash: _p, hash: _h, ...body } = auditEventView(row);
  return { organizationId: row.organization_id, ...body };
}

export const maskSecret = (value: string | null | undefined): string | null =>
  value ? `${value.slice(0, Math.min(10, Math.floor(value.length / 4)))}…(masked)` : null;

const EVENT_COLUMNS = [
  'id', 'organization_id', 'seq', 'occurred_at', 'actor_type', 'actor_id', 'actor_label', 'action', 'category',
  'resource_type', 'resource_id', 'changes', 'outcome', 'request_id', 'ip', 'user_agent', 'idempotency_key', 'prev_hash', 'hash',
] as const;

// One statement writes the event and moves the head, so the head's lock is held for one round
// trip (plus the caller's commit). A retried append (same idempotency key) inserts nothing
// and moves nothing; the first event is returned instead.
const INSERT_AND_ADVANCE = `
  WITH ins AS (
    INSERT INTO audit_events (${EVENT_COLUMNS.join(', ')})
    VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})
    ON CONFLICT (organization_id, idempotency_key) DO NOTHING
    RETURNING seq, hash
  )
  UPDATE audit_heads SET seq = ins.seq, hash = ins.hash FROM ins
  WHERE audit_heads.organization_id = ?
  RETURNING audit_heads.seq`;

export async function appendAuditEvent(db: Knex, hmacKey: string, input: AuditEventInput): Promise<AuditEventRow> {
  // Inside the caller's transaction when there is one, so the event commits with its change.
  // Callers append last, just before their commit: the head stays locked until then.
  const run = async (trx: Knex.Transaction): Promise<AuditEventRow> => {
    const lockHead = () => trx('audit_heads').where({ organization_id: input.organizationId }).forUpdate().first();
    let head = await lockHead();
    if (!head) {
      // The organization's first event.
      await trx('audit_heads').insert({ organization_id: input.organizationId, seq: 0, hash: GENESIS_HASH }).onConflict('organization_id').ignore();
      head = await lockHead();
    }
    const row: AuditEventRow = {
      id: randomUUID(),
      organization_id: input.organizationId,
      seq: Number(head.seq) + 1,
      occurred_at: new Date(),
      actor_type: input.actor.type,
      actor_id: input.actor.id,
      actor_label: input.actor.label ?? null,
      action: input.action,
      category: input.category,
      resource_type: input.resource.type,
      resource_id: input.resource.id,
      changes: input.changes ?? null,
      outcome: input.outcome ?? 'success',
      request_id: input.requestId ?? null,
      ip: input.ip ?? null,
      user_agent: input.userAgent ? input.userAgent.slice(0, 512) : null,
      idempotency_key: input.idempotencyKey ?? null,
      prev_hash: head.hash,
      hash: '',
    };
    // jsonb round-trips numbers and keys; canonical JSON makes the hash independent of key order.
    row.hash = auditEventHash(hmacKey, row.prev_hash, hashedBody(row));
    const values = EVENT_COLUMNS.map((c) => (c === 'changes' ? (row.changes === null ? null : JSON.stringify(row.changes)) : row[c]));
    const advanced = await trx.raw(INSERT_AND_ADVANCE, [...values, input.organizationId]);
    if (advanced.rows.length > 0) return row;
    // Nothing inserted: this key's event exists already (a retry of the same activity).
    return trx<AuditEventRow>('audit_events').where({ organization_id: input.organizationId, idempotency_key: input.idempotencyKey }).first() as Promise<AuditEventRow>;
  };
  return db.isTransaction ? run(db as Knex.Transaction) : db.transaction(run);
}

/** Recomputes the organization's chain in seq order, a batch at a time (constant memory). */
export async function verifyLedger(db: Knex, hmacKey: string, organizationId: string, batchSize = 2000) {
  const verifier = createChainVerifier(hmacKey);
  let after = 0;
  for (;;) {
    const rows: AuditEventRow[] = await db('audit_events')
      .where({ organization_id: organizationId })
      .andWhere('seq', '>', after)
      .orderBy('seq')
      .limit(batchSize);
    let intact = true;
    for (const row of rows) {
      intact = verifier.push({ seq: Number(row.seq), prevHash: row.prev_hash, hash: row.hash, body: hashedBody(row) });
      if (!intact) break;
    }
    if (!intact || rows.length < batchSize) break;
    after = Number(rows[rows.length - 1].seq);
  }
  return verifier.result();
}
