// The purge (SPEC §7), in one place: personal data deleted for good, a tombstone left
// (ids, statuses, purgedAt) so webhooks, deliveries and ledger events keep resolving, and the
// ledger event, all in one transaction. Running it again finds the tombstone and returns it,
// so the workflow activity, erasure, the reconciler and cancellation can all call it.
//
// Locks: the session row (or standalone analysis row) FOR UPDATE first, then its analyses and
// documents; writes that race the purge (uploads, analyses, comments) take the same row
// FOR SHARE and re-check its status, so nothing lands in a purged record.
import { appendAuditEvent, type AuditActor, type AuditContext } from '../audit/ledger';
import type { Db } from '../db/knex';
import { destroyDataKey } from '../payloads/keyStore';
import { analysisScope, sessionScope } from '../payloads/scopes';
import { scrubDeliveriesOfPurgedRecord } from '../webhooks/deliveries';

export type PurgeReason = 'retention' | 'erasure' | 'cancellation' | 'reconciler' | 'creation_failed';

export interface PurgeRequest {
  organizationId: string;
  actor: AuditActor;
  context: AuditContext;
  /** Why, for the ledger; by default retention for the system, erasure for an operator. */
  reason?: PurgeReason;
}

/** The record to purge does not exist: no retry will make it appear. */
export class PurgeTargetMissing extends Error {
  override name = 'PurgeTargetMissing';
}

const reasonOf = (input: PurgeRequest): PurgeReason => input.reason ?? (input.actor.type === 'system' ? 'retention' : 'erasure');

async function purgeAnalysesData(trx: Db, analysisIds: string[], now: Date): Promise<void> {
  if (analysisIds.length === 0) return;
  await trx('decision_comments').whereIn('analysis_id', analysisIds).delete();
  // The customer's correlation id goes with the personal data, as on the session itself.
  await trx('analyses').whereIn('id', analysisIds).update({ status: 'purged', result: null, correlation_id: null, purged_at: now });
}

/** Purges one journey session with its documents, analyses and entity data. */
export async function purgeSessionRecord(db: Db, auditKey: string, input: PurgeRequest & { sessionId: string }): Promise<{ purgedAt: string }> {
  return db.transaction(async (trx) => {
    const session = await trx('sessions').where({ id: input.sessionId }).forUpdate().first();
    if (!session) throw new PurgeTargetMissing(`session ${input.sessionId} not found`);
    if (session.status === 'purged') return { purgedAt: (session.purged_at as Date).toISOString() };
    const now = new Date();
    const analysisIds: string[] = (await trx('analyses').where({ session_id: session.id }).forUpdate().select('id')).map((a: { id: string }) => a.id);
    const documents = await trx('documents')
      .where({ session_id: session.id })
      .whereNull('purged_at')
      .update({ type: null, file_name: null, content_type: null, size_bytes: null, content: null, purged_at: now });
    await purgeAnalysesData(trx, analysisIds, now);
    // The delivery log keeps ids, statuses and outcomes, not what the purge removes elsewhere.
    await scrubDeliveriesOfPurgedRecord(trx, input.organizationId, { sessionId: session.id });
    // Crypto-shredding: what Temporal keeps of the session's workflow becomes unreadable.
    await destroyDataKey(trx, sessionScope(session.id));
    await trx('entities').where({ id: session.entity_id }).update({ personal_data: null, purged_at: now });
    await trx('sessions')
      .where({ id: session.id })
      .update({ status: 'purged', purged_at: now, correlation_id: null, journey_id: null, redirect_url: null });
    // The stored response of the creating request (Idempotency-Key) repeats the correlation id.
    await trx('idempotency_keys')
      .where({ organization_id: input.organizationId, scope: 'POST /v1/sessions' })
      .whereRaw("response_body->>'id' = ?", [session.id])
      .delete();
    await appendAuditEvent(trx, auditKey, {
      organizationId: input.organizationId,
      actor: input.actor,
      action: 'session.purge',
      category: 'deletion',
      resource: { type: 'session', id: session.id },
      changes: {
        status: { before: session.status, after: 'purged' },
        reason: reasonOf(input),
        documentsPurged: documents,
        analysesPurged: analysisIds.length,
      },
      idempotencyKey: `purge:session:${session.id}`,
      ...input.context,
    });
    return { purgedAt: now.toISOString() };
  });
}

/** Purges one standalone analysis, and its entity's data unless a live session still uses it. */
export async function purgeStandaloneAnalysisRecord(
  db: Db,
  auditKey: string,
  input: PurgeRequest & { analysisId: string },
): Promise<{ purgedAt: string }> {
  return db.transaction(async (trx) => {
    const analysis = await trx('analyses').where({ id: input.analysisId }).forUpdate().first();
    if (!analysis) throw new PurgeTargetMissing(`analysis ${input.analysisId} not found`);
    if (analysis.status === 'purged') return { purgedAt: (analysis.purged_at as Date).toISOString() };
    const now = new Date();
    await purgeAnalysesData(trx, [analysis.id], now);
    await scrubDeliveriesOfPurgedRecord(trx, input.organizationId, { analysisIds: [analysis.id] });
    await destroyDataKey(trx, analysisScope(analysis.id));
    // The stored response of the creating request (Idempotency-Key) repeats the correlation id.
    await trx('idempotency_keys')
      .where({ organization_id: input.organizationId, scope: 'POST /v1/analyses' })
      .whereRaw("response_body->>'id' = ?", [analysis.id])
      .delete();
    const inUse = await trx('sessions').where({ entity_id: analysis.entity_id }).whereNot({ status: 'purged' }).first('id');
    if (!inUse) await trx('entities').where({ id: analysis.entity_id }).update({ personal_data: null, purged_at: now });
    await appendAuditEvent(trx, auditKey, {
      organizationId: input.organizationId,
      actor: input.actor,
      action: 'analysis.purge',
      category: 'deletion',
      resource: { type: 'analysis', id: analysis.id },
      changes: { status: { before: analysis.status, after: 'purged' }, reason: reasonOf(input) },
      idempotencyKey: `purge:analysis:${analysis.id}`,
      ...input.context,
    });
    return { purgedAt: now.toISOString() };
  });
}
