import { appendAuditEvent, type AuditActor, type AuditContext } from '../src/audit/ledger';
import type { Db } from '../src/db/knex';
import { destroyDataKey, type DataKeyStore } from '../src/payloads/keyStore';
import { analysisScope, sessionScope } from '../src/payloads/scopes';

export interface PurgeRequest {
  organizationId: string;
  actor: AuditActor;
  context: AuditContext;
  /** Recorded in the ledger; by default `retention` for the system, `erasure` for an operator. */
  reason?: 'retention' | 'erasure' | 'creation_failed';
}

const reasonOf = (input: PurgeRequest) => input.reason ?? (input.actor.type === 'system' ? 'retention' : 'erasure');

// Purges delete personal data for good and leave tombstones (ids, statuses, purgedAt) so
// webhooks, deliveries and ledger events keep resolving. One transaction with its ledger
// event; running again finds the tombstone and returns it.
export function createRetentionActivities({ db, config, keys }: { db: Db; config: { AUDIT_HMAC_KEY: string }; keys?: DataKeyStore }) {
  async function purgeAnalysesData(trx: Db, analysisIds: string[], now: Date): Promise<void> {
    if (analysisIds.length === 0) return;
    await trx('decision_comments').whereIn('analysis_id', analysisIds).delete();
    // The customer's correlation id goes with the personal data, as on the session itself.
    await trx('analyses').whereIn('id', analysisIds).update({ status: 'purged', result: null, correlation_id: null, purged_at: now });
  }

  return {
    async purgeSession(input: PurgeRequest & { sessionId: string }): Promise<{ purgedAt: string }> {
      const purged = await db.transaction(async (trx) => {
        const session = await trx('sessions').where({ id: input.sessionId }).forUpdate().first();
        if (!session) throw new Error(`session ${input.sessionId} not found`);
        if (session.status === 'purged') return { purgedAt: (session.purged_at as Date).toISOString() };
        const now = new Date();
        const analysisIds: string[] = (await trx('analyses').where({ session_id: session.id }).select('id')).map((a: { id: string }) => a.id);
        const documents = await trx('documents')
          .where({ session_id: session.id })
          .whereNull('purged_at')
          .update({ type: null, file_name: null, content_type: null, size_bytes: null, content: null, purged_at: now });
        await purgeAnalysesData(trx, analysisIds, now);
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
        await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
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
      keys?.forget(sessionScope(input.sessionId));
      return purged;
    },

    async purgeStandaloneAnalysis(input: PurgeRequest & { analysisId: string }): Promise<{ purgedAt: string }> {
      const purged = await db.transaction(async (trx) => {
        const analysis = await trx('analyses').where({ id: input.analysisId }).forUpdate().first();
        if (!analysis) throw new Error(`analysis ${input.analysisId} not found`);
        if (analysis.status === 'purged') return { purgedAt: (analysis.purged_at as Date).toISOString() };
        const now = new Date();
        await purgeAnalysesData(trx, [analysis.id], now);
        await destroyDataKey(trx, analysisScope(analysis.id));
        // The stored response of the creating request (Idempotency-Key) repeats the correlation id.
        await trx('idempotency_keys')
          .where({ organization_id: input.organizationId, scope: 'POST /v1/analyses' })
          .whereRaw("response_body->>'id' = ?", [analysis.id])
          .delete();
        // The entity's personal data goes too unless a live session still uses it.
        const inUse = await trx('sessions').where({ entity_id: analysis.entity_id }).whereNot({ status: 'purged' }).first('id');
        if (!inUse) await trx('entities').where({ id: analysis.entity_id }).update({ personal_data: null, purged_at: now });
        await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
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
      keys?.forget(analysisScope(input.analysisId));
      return purged;
    },

    async recordPurgeAt(input: ({ sessionId: string } | { analysisId: string }) & { purgeAt: string | null }): Promise<void> {
      const purgeAt = input.purgeAt ? new Date(input.purgeAt) : null;
      if ('sessionId' in input) await db('sessions').where({ id: input.sessionId }).update({ purge_at: purgeAt });
      else await db('analyses').where({ id: input.analysisId }).update({ purge_at: purgeAt });
    },
  };
}
