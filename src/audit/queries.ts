import type { Knex } from 'knex';
import { problems } from '../api/problem';
import type { Db } from '../db/knex';
import { appendAuditEvent, auditEventView, chainBeforeRead, chainPending, verifyLedger, type AuditEventRow } from './ledger';
import type { AuditOrigin } from './origin';
import { allCheckpoints } from './checkpoints';
import { verifyCheckpoints, type SignedCheckpoint } from '../domain/ledgerCheckpoint';

// Reading the ledger: filtered lists (newest first, keyset on seq), batched reads for the
// export (oldest first, bounded by a seq so the export is a consistent snapshot), and
// verification. Readers see chained events only, in seq order: each first runs the
// organization's sequencer (chainPending), so every event committed before the read is
// chained and shown; an event committed after that stays hidden until it is chained.
// Nothing here updates or deletes an event (chainPending only chains).

export interface AuditFilters {
  actorType?: string;
  actorId?: string;
  action?: string;
  category?: string;
  resourceType?: string;
  resourceId?: string;
  /** ISO instant, inclusive. */
  from?: string;
  /** ISO instant, exclusive. */
  to?: string;
}

function filtered(db: Db, organizationId: string, f: AuditFilters): Knex.QueryBuilder<AuditEventRow> {
  const q = db<AuditEventRow>('audit_events').where({ organization_id: organizationId }).whereNotNull('seq');
  if (f.actorType) q.andWhere({ actor_type: f.actorType as AuditEventRow['actor_type'] });
  if (f.actorId) q.andWhere({ actor_id: f.actorId });
  if (f.action) q.andWhere({ action: f.action });
  if (f.category) q.andWhere({ category: f.category as AuditEventRow['category'] });
  if (f.resourceType) q.andWhere({ resource_type: f.resourceType });
  if (f.resourceId) q.andWhere({ resource_id: f.resourceId });
  if (f.from) q.andWhere('occurred_at', '>=', new Date(f.from));
  if (f.to) q.andWhere('occurred_at', '<', new Date(f.to));
  return q;
}

const encodeCursor = (seq: number): string => Buffer.from(JSON.stringify({ seq })).toString('base64url');

function decodeCursor(cursor: string): number {
  try {
    const { seq } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Number.isSafeInteger(seq) && seq > 0) return seq;
  } catch {
    // fall through
  }
  throw problems.validation([{ path: 'query.cursor', message: 'is not a cursor returned by this API' }]);
}

export async function listAuditEvents(
  db: Db,
  hmacKey: string,
  organizationId: string,
  q: AuditFilters & { limit: number; cursor?: string },
) {
  await chainBeforeRead(db, hmacKey, organizationId);
  const query = filtered(db, organizationId, q);
  if (q.cursor) query.andWhere('seq', '<', decodeCursor(q.cursor));
  const rows: AuditEventRow[] = await query.orderBy('seq', 'desc').limit(q.limit + 1);
  const more = rows.length > q.limit;
  const data = (more ? rows.slice(0, q.limit) : rows).map(auditEventView);
  return { data, nextCursor: more ? encodeCursor(data[data.length - 1].seq) : null };
}

export async function getAuditEvent(db: Db, hmacKey: string, organizationId: string, id: string) {
  await chainBeforeRead(db, hmacKey, organizationId);
  const row = await db<AuditEventRow>('audit_events').where({ organization_id: organizationId, id }).whereNotNull('seq').first();
  if (!row) throw problems.notFound('audit event');
  return auditEventView(row);
}

/**
 * The matching events with seq <= throughSeq, oldest first, `batchSize` rows per query (keyset
 * on seq): memory stays bounded by one batch however long the ledger is.
 */
export async function* auditEventBatches(
  db: Db,
  organizationId: string,
  filters: AuditFilters,
  throughSeq: number,
  batchSize = 1000,
): AsyncGenerator<AuditEventRow[]> {
  let after = 0;
  for (;;) {
    const rows: AuditEventRow[] = await filtered(db, organizationId, filters)
      .andWhere('seq', '>', after)
      .andWhere('seq', '<=', throughSeq)
      .orderBy('seq', 'asc')
      .limit(batchSize);
    if (rows.length > 0) yield rows;
    if (rows.length < batchSize) return;
    after = Number(rows[rows.length - 1].seq);
  }
}

/**
 * Appends the `audit.export` event, committed and chained before anything streams. Its seq
 * bounds the export: every event up to it is chained (the chain is a gap-free prefix), later
 * ones are left out.
 */
export async function recordAuditExport(
  db: Db,
  hmacKey: string,
  origin: AuditOrigin,
  format: 'csv' | 'ndjson',
  filters: AuditFilters,
): Promise<AuditEventRow> {
  const given = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined));
  const appended = await appendAuditEvent(db, hmacKey, {
    ...origin,
    action: 'audit.export',
    category: 'access',
    resource: { type: 'audit_ledger', id: origin.organizationId },
    changes: { format, filters: given },
  });
  await chainPending(db, hmacKey, origin.organizationId);
  return (await db<AuditEventRow>('audit_events').where({ id: appended.id }).first()) as AuditEventRow;
}

/**
 * Recomputes the organization's chain; also compares with the recorded head (audit_heads), so
 * deleting the newest events is reported too (unless the head row was rewritten as well).
 */
export async function verifyOrganizationLedger(db: Db, hmacKey: string, organizationId: string) {
  await chainBeforeRead(db, hmacKey, organizationId);
  // Read first: every event up to the head's seq (and every checkpoint's) is committed by then.
  const head = await db('audit_heads').where({ organization_id: organizationId }).first('seq');
  const checkpoints = await allCheckpoints(db, organizationId);
  const result = await verifyLedger(db, hmacKey, organizationId);
  const checkpointReport = await checkAgainstCheckpoints(db, organizationId, checkpoints);
  const recordedSeq = head ? Number(head.seq) : 0;
  const withCheckpoints = { ...result, checkpoints: checkpointReport };
  if (result.valid && (result.headSeq ?? 0) < recordedSeq) {
    return { ...withCheckpoints, valid: false, firstInvalidSeq: (result.headSeq ?? 0) + 1 };
  }
  if (result.valid && !checkpointReport.valid) {
    // Events a checkpoint vouched for are gone (or changed): the chain's tail was cut.
    const firstInvalidSeq = Math.min(...checkpointReport.problems.map((p) => p.seq), (result.headSeq ?? 0) + 1);
    return { ...withCheckpoints, valid: false, firstInvalidSeq };
  }
  return withCheckpoints;
}

/** The signed checkpoints against the events in the database, with the public keys on record. */
async function checkAgainstCheckpoints(db: Db, organizationId: string, checkpoints: SignedCheckpoint[]) {
  const keys = new Map<string, string>(
    (await db('audit_signing_keys').select('key_id', 'public_key')).map((r: { key_id: string; public_key: string }) => [r.key_id, r.public_key]),
  );
  const last = await db('audit_events').where({ organization_id: organizationId }).max('seq as seq').first();
  const hashes = new Map<number, string>();
  const seqs = checkpoints.map((c) => c.seq);
  for (let i = 0; i < seqs.length; i += 1000) {
    const rows: { seq: string; hash: string }[] = await db('audit_events')
      .where({ organization_id: organizationId })
      .whereIn('seq', seqs.slice(i, i + 1000))
      .select('seq', 'hash');
    for (const r of rows) hashes.set(Number(r.seq), r.hash);
  }
  return verifyCheckpoints(checkpoints, keys, { lastSeq: Number(last?.seq ?? 0), eventHash: (seq) => hashes.get(seq) });
}
