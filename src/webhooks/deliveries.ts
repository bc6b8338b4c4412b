import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex';
import { page } from '../api/pagination';
import { webhookIdForDelivery } from '../domain/webhookSignature';

export type WebhookEvent = 'session_end' | 'decision' | 'test' | 'audit_checkpoint';
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'skipped';

export interface NewDelivery {
  organizationId: string;
  event: WebhookEvent;
  /** Unique per organization: the same event never yields a second delivery. */
  eventKey: string;
  sessionId: string | null;
  analysisId: string | null;
  payload: Record<string, unknown>;
}

export interface DeliveryRow {
  id: string;
  organization_id: string;
  event: WebhookEvent;
  event_key: string;
  session_id: string | null;
  analysis_id: string | null;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  attempt_count: number;
  /** The newest attempt series (1, then +1 per redelivery). */
  current_series: number;
  /** When the pending series tries next; null when nothing is scheduled. */
  next_attempt_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface AttemptRow {
  id: string;
  delivery_id: string;
  series: number;
  attempt_no: number;
  url: string | null;
  outcome: 'success' | 'failure' | 'refused' | 'skipped';
  status_code: number | null;
  duration_ms: number | null;
  error: string | null;
  response_body: string | null;
  attempted_at: Date;
}

/** The session-end event's key, as the session workflow dispatches it (`session_end:<id>`). */
export const sessionEndEventKey = (sessionId: string): string => `session_end:${sessionId}`;

/** Idempotent: returns the existing delivery when the event was recorded before. */
export async function recordDelivery(db: Db, d: NewDelivery): Promise<DeliveryRow> {
  await db('webhook_deliveries')
    .insert({
      id: randomUUID(),
      organization_id: d.organizationId,
      event: d.event,
      event_key: d.eventKey,
      session_id: d.sessionId,
      analysis_id: d.analysisId,
      payload: JSON.stringify(d.payload),
      status: 'pending',
    })
    .onConflict(['organization_id', 'event_key'])
    .ignore();
  return db<DeliveryRow>('webhook_deliveries').where({ organization_id: d.organizationId, event_key: d.eventKey }).first() as Promise<DeliveryRow>;
}

export async function findDelivery(db: Db, deliveryId: string): Promise<DeliveryRow | undefined> {
  return db<DeliveryRow>('webhook_deliveries').where({ id: deliveryId }).first();
}

export async function findAttempt(db: Db, deliveryId: string, series: number, attemptNo: number): Promise<AttemptRow | undefined> {
  return db<AttemptRow>('webhook_attempts').where({ delivery_id: deliveryId, series, attempt_no: attemptNo }).first();
}

export async function attemptsOf(db: Db, deliveryIds: string[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  return db<AttemptRow>('webhook_attempts').whereIn('delivery_id', deliveryIds).orderBy(['delivery_id', 'series', 'attempt_no']);
}

/**
 * Records one attempt and its effect on the delivery, once, even if called again. Only the
 * delivery's current series moves its status: a late retry of an older series cannot.
 */
export async function recordAttempt(
  db: Db,
  attempt: Omit<AttemptRow, 'id' | 'attempted_at'> & { attempted_at: Date },
  deliveryStatus: DeliveryStatus,
  nextAttemptAt: Date | null = null,
): Promise<AttemptRow> {
  return db.transaction(async (trx) => {
    const inserted = await trx('webhook_attempts')
      .insert({ id: randomUUID(), ...attempt })
      .onConflict(['delivery_id', 'series', 'attempt_no'])
      .ignore()
      .returning('*');
    if (inserted.length > 0) {
      await trx('webhook_deliveries')
        .where({ id: attempt.delivery_id })
        .update({ attempt_count: trx.raw('attempt_count + 1'), updated_at: trx.fn.now() });
      await trx('webhook_deliveries')
        .where({ id: attempt.delivery_id, current_series: attempt.series })
        .update({ status: deliveryStatus, next_attempt_at: nextAttemptAt });
      return inserted[0] as AttemptRow;
    }
    return (await trx<AttemptRow>('webhook_attempts')
      .where({ delivery_id: attempt.delivery_id, series: attempt.series, attempt_no: attempt.attempt_no })
      .first()) as AttemptRow;
  });
}

/** Sets the status if `series` is still the delivery's current one; returns whether it did. */
export async function setDeliveryStatus(db: Db, deliveryId: string, status: DeliveryStatus, series?: number): Promise<boolean> {
  const query = db('webhook_deliveries').where({ id: deliveryId });
  if (series !== undefined) query.andWhere({ current_series: series });
  const updated = await query.update({ status, next_attempt_at: null, updated_at: db.fn.now() });
  return updated > 0;
}

// ---- the delivery log as the API shows it ---------------------------------------------

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function attemptView(a: AttemptRow) {
  return {
    series: a.series,
    attemptNo: a.attempt_no,
    attemptedAt: a.attempted_at.toISOString(),
    url: a.url,
    outcome: a.outcome,
    statusCode: a.status_code,
    durationMs: a.duration_ms,
    error: a.error,
    responseBody: a.response_body,
  };
}

export function deliveryView(row: DeliveryRow, attempts: AttemptRow[]) {
  return {
    id: row.id,
    event: row.event,
    status: row.status,
    webhookId: webhookIdForDelivery(row.id),
    sessionId: row.session_id,
    analysisId: row.analysis_id,
    payload: row.payload,
    attemptCount: row.attempt_count,
    series: row.current_series,
    nextAttemptAt: iso(row.next_attempt_at),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    attempts: attempts.map(attemptView),
  };
}
export type DeliveryView = ReturnType<typeof deliveryView>;

export async function getDeliveryView(db: Db, organizationId: string, deliveryId: string): Promise<DeliveryView | null> {
  const row = await db<DeliveryRow>('webhook_deliveries').where({ id: deliveryId, organization_id: organizationId }).first();
  if (!row) return null;
  return deliveryView(row, await attemptsOf(db, [row.id]));
}

export interface DeliveryFilters {
  limit: number;
  cursor?: string;
  event?: WebhookEvent;
  status?: DeliveryStatus;
  sessionId?: string;
}

/** Newest first, keyset-paginated, each delivery with all its attempts (every series). */
export async function listDeliveries(db: Db, organizationId: string, f: DeliveryFilters) {
  const query = db<DeliveryRow>('webhook_deliveries').where({ organization_id: organizationId });
  if (f.event) query.andWhere({ event: f.event });
  if (f.status) query.andWhere({ status: f.status });
  if (f.sessionId) query.andWhere({ session_id: f.sessionId });
  const { rows, nextCursor } = await page<DeliveryRow>(query, { limit: f.limit, cursor: f.cursor, table: 'webhook_deliveries' });
  const attempts = await attemptsOf(db, rows.map((r) => r.id));
  const byDelivery = new Map<string, AttemptRow[]>();
  for (const a of attempts) byDelivery.set(a.delivery_id, [...(byDelivery.get(a.delivery_id) ?? []), a]);
  return { data: rows.map((r) => deliveryView(r, byDelivery.get(r.id) ?? [])), nextCursor };
}

/**
 * The purge's share of the delivery log (in the purge's transaction): ids, statuses, times and
 * attempt outcomes stay; the customer's correlation id leaves the stored payloads and the
 * receivers' response bodies (which may echo data) go. Key order of the rest is kept.
 */
export async function scrubDeliveriesOfPurgedRecord(trx: Db, organizationId: string, of: { sessionId: string } | { analysisIds: string[] }): Promise<number> {
  const query = trx<DeliveryRow>('webhook_deliveries').where({ organization_id: organizationId });
  if ('sessionId' in of) query.andWhere({ session_id: of.sessionId });
  else if (of.analysisIds.length === 0) return 0;
  else query.whereIn('analysis_id', of.analysisIds);
  const rows = await query.select('id', 'payload');
  for (const row of rows) {
    if (row.payload && 'correlationId' in row.payload) {
      const { correlationId: _dropped, ...rest } = row.payload;
      await trx('webhook_deliveries').where({ id: row.id }).update({ payload: JSON.stringify(rest) });
    }
  }
  if (rows.length > 0) await trx('webhook_attempts').whereIn('delivery_id', rows.map((r) => r.id)).update({ response_body: null });
  return rows.length;
}

/** Whether the record a delivery is about has been purged (its event is then not redelivered). */
export async function deliveryRecordPurged(db: Db, row: Pick<DeliveryRow, 'session_id' | 'analysis_id'>): Promise<boolean> {
  if (row.session_id) return (await db('sessions').where({ id: row.session_id }).first('status'))?.status === 'purged';
  if (row.analysis_id) return (await db('analyses').where({ id: row.analysis_id }).first('status'))?.status === 'purged';
  return false;
}
