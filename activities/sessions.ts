import { ApplicationFailure } from '@temporalio/common';
import { appendAuditEvent } from '../src/audit/ledger';
import type { Db } from '../src/db/knex';
import { consolidateVerdict, type AiStatus, type AnalysisStatus } from '../src/domain/verdict';
import { recordDelivery, sessionEndEventKey } from '../src/webhooks/deliveries';

/** A row still `pending` has a running workflow (the API or the reconciler moves it on). */
const OPEN = ['pending', 'created', 'in_progress'];

// Session lifecycle writes. Each is a conditional UPDATE, so running it again (an activity
// retry) finds the row already moved and returns what is stored instead of writing twice.
export function createSessionActivities({ db, config }: { db: Db; config: { AUDIT_HMAC_KEY: string } }) {
  return {
    async markSessionInProgress({ sessionId }: { sessionId: string }): Promise<void> {
      await db('sessions')
        .whereIn('status', ['created', 'pending'])
        .andWhere({ id: sessionId })
        .update({ status: 'in_progress', started_at: db.fn.now() });
    },

    async completeSession({ sessionId }: { sessionId: string }): Promise<{ verdict: AiStatus; completedAt: string }> {
      return db.transaction(async (trx) => {
        const session = await trx('sessions').where({ id: sessionId }).forUpdate().first();
        if (!session) throw ApplicationFailure.nonRetryable(`session ${sessionId} not found`, 'NotFound');
        if (session.status === 'completed') {
          return { verdict: session.verdict as AiStatus, completedAt: (session.completed_at as Date).toISOString() };
        }
        const analyses: { status: AnalysisStatus }[] = await trx('analyses').where({ session_id: sessionId }).select('status');
        const verdict = consolidateVerdict(analyses.map((a) => a.status));
        if (!OPEN.includes(session.status)) {
          throw ApplicationFailure.nonRetryable(`session ${sessionId} is ${session.status}, it cannot complete`, 'SessionNotOpen');
        }
        const [row] = await trx('sessions')
          .where({ id: sessionId })
          .update({ status: 'completed', verdict, completed_at: trx.fn.now() })
          .returning(['completed_at']);
        // The session-end webhook's snapshot, in the completion's own transaction (an outbox):
        // the dispatch that follows finds this row by its event key and sends it as it is, so a
        // decision landing in between (a worker dying before the dispatch) cannot change it.
        await recordDelivery(trx, {
          organizationId: session.organization_id as string,
          event: 'session_end',
          eventKey: sessionEndEventKey(sessionId),
          sessionId,
          analysisId: null,
          payload: { sessionId, newStatus: verdict },
        });
        return { verdict, completedAt: (row.completed_at as Date).toISOString() };
      });
    },

    /**
     * `at` is the link's expiry instant, so the record says when the link died, not when we
     * noticed. Audited as a system action in the same transaction; the fixed key keeps a
     * retried run from recording it twice.
     */
    async expireSession({ sessionId, at }: { sessionId: string; at: string }): Promise<{ expiredAt: string }> {
      return db.transaction(async (trx) => {
        const session = await trx('sessions').where({ id: sessionId }).forUpdate().first('status', 'expired_at', 'organization_id');
        if (!session) throw ApplicationFailure.nonRetryable(`session ${sessionId} not found`, 'NotFound');
        if (!OPEN.includes(session.status)) {
          return { expiredAt: (session.expired_at as Date | null)?.toISOString() ?? at };
        }
        await trx('sessions').where({ id: sessionId }).update({ status: 'expired', expired_at: new Date(at) });
        await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
          organizationId: session.organization_id,
          actor: { type: 'system', id: 'link-expiry' },
          action: 'session.expire',
          category: 'modification',
          resource: { type: 'session', id: sessionId },
          changes: { status: { before: session.status, after: 'expired' }, linkExpiresAt: at },
          idempotencyKey: `expire:session:${sessionId}`,
        });
        return { expiredAt: at };
      });
    },
  };
}
