import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex';

export type WebhookEvent = 'session_end' | 'decision' | 'test';
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

/** Records one attempt and its effect on the delivery, once, even if called again. */
export async function recordAttempt(
  db: Db,
  attempt: Omit<AttemptRow, 'id' | 'attempted_at'> & { attempted_at: Date },
  deliveryStatus: DeliveryStatus,
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
        .update({ status: deliveryStatus, attempt_count: trx.raw('attempt_count + 1'), updated_at: trx.fn.now() });
      return inserted[0] as AttemptRow;
    }
    return (await trx<AttemptRow>('webhook_attempts')
      .where({ delivery_id: attempt.delivery_id, series: attempt.series, attempt_no: attempt.attempt_no })
      .first()) as AttemptRow;
  });
}

export async function setDeliveryStatus(db: Db, deliveryId: string, status: DeliveryStatus): Promise<void> {
  await db('webhook_deliveries').where({ id: deliveryId }).update({ status, updated_at: db.fn.now() });
}
