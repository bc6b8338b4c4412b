import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { appendAuditEvent, type AuditEventRow } from '../src/audit/ledger';
import type { Db } from '../src/db/knex';
import { recordDelivery, type NewDelivery } from '../src/webhooks/deliveries';
import type { AnalystDecision, DecisionOutcome, DecisionRefusal } from '../workflows/definitions';

export interface RecordDecisionInput {
  decision: AnalystDecision;
  /** Unique per decision and stable across retries: the ledger event's idempotency key. */
  decisionKey: string;
  organizationId: string;
  /** The workflow's own subject: a decision about anything else is refused. */
  scope: { sessionId: string } | { analysisId: string };
  /**
   * Workflows from the erasure patch on: the decision webhook's delivery row is written in the
   * decision's own transaction (an outbox) and only its id is returned, so the payload with
   * the customer's correlation id never enters Temporal.
   */
  outbox?: boolean;
}

export interface RecordDecisionResult {
  outcome: DecisionOutcome;
  /** The decision webhook to send, when the status changed (histories before the outbox). */
  webhook: NewDelivery | null;
  /** With `outbox`: the recorded delivery to start, when the status changed. */
  deliveryId?: string | null;
}

// A signal typed in the Temporal UI can hold anything: check its shape before trusting it.
const decisionShape = z.object({
  analysisId: z.uuid(),
  newStatus: z.enum(['user_approved', 'user_rejected']),
  operatorId: z.uuid(),
  comment: z.string().max(5000).optional(),
  commentId: z.uuid().optional(),
});

const refusalMessages: Record<DecisionRefusal, string> = {
  invalid_input: 'the decision is malformed: analysisId, newStatus (user_approved|user_rejected) and operatorId are required',
  operator_not_allowed: 'the operator is unknown, disabled, or not allowed to decide (admin or analyst only)',
  analysis_not_found: 'the analysis does not exist or does not belong to this workflow',
  session_not_completed: 'decisions are taken once the session is completed',
  purged: 'the analysis was purged',
};

export function createDecisionActivities({ db, config }: { db: Db; config: { AUDIT_HMAC_KEY: string } }) {
  return {
    /**
     * Validates and records one analyst decision: the analysis, the session's verdict and the
     * ledger change in one transaction. A refused decision is recorded too (outcome failure).
     * Idempotent through the ledger event's key: a retry returns the first run's result.
     */
    async recordDecision(input: RecordDecisionInput): Promise<RecordDecisionResult> {
      const auditKey = `decision:${input.decisionKey}`;
      return db.transaction(async (trx) => {
        const prior = await trx<AuditEventRow>('audit_events')
          .where({ organization_id: input.organizationId, idempotency_key: auditKey })
          .first();
        if (prior) return replay(trx, input, prior);

        const raw = input.decision as Partial<AnalystDecision>;
        const context = { requestId: raw.requestId ?? null, ip: raw.ip ?? null, userAgent: raw.userAgent ?? null };
        const refuse = async (reason: DecisionRefusal, operatorLabel: string | null = null): Promise<RecordDecisionResult> => {
          await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
            organizationId: input.organizationId,
            actor: { type: 'operator', id: String(raw.operatorId ?? 'unknown').slice(0, 100), label: operatorLabel },
            action: 'analysis.decision',
            category: 'decision',
            resource: { type: 'analysis', id: String(raw.analysisId ?? 'unknown').slice(0, 100) },
            changes: { reason, attemptedStatus: typeof raw.newStatus === 'string' ? raw.newStatus.slice(0, 40) : null },
            outcome: 'failure',
            idempotencyKey: auditKey,
            ...context,
          });
          return { outcome: { accepted: false, reason, message: refusalMessages[reason] }, webhook: null, deliveryId: null };
        };

        const parsed = decisionShape.safeParse(input.decision);
        if (!parsed.success) return refuse('invalid_input');
        const d = parsed.data;

        const operator = await trx('operators').where({ id: d.operatorId, organization_id: input.organizationId }).first();
        if (!operator || operator.disabled_at || !['admin', 'analyst'].includes(operator.role)) {
          return refuse('operator_not_allowed', operator?.email ?? null);
        }
        const analysis = await trx('analyses').where({ id: d.analysisId, organization_id: input.organizationId }).forUpdate().first();
        const inScope =
          analysis &&
          ('sessionId' in input.scope ? analysis.session_id === input.scope.sessionId : analysis.id === input.scope.analysisId && analysis.session_id === null);
        if (!inScope) return refuse('analysis_not_found', operator.email);
        if (analysis.status === 'purged') return refuse('purged', operator.email);
        if (analysis.session_id) {
          const session = await trx('sessions').where({ id: analysis.session_id }).first('status');
          if (session.status === 'purged') return refuse('purged', operator.email);
          if (session.status !== 'completed') return refuse('session_not_completed', operator.email);
        }

        const before: string = analysis.status;
        const changed = before !== d.newStatus;
        const decidedAt = new Date();
        let commentId = d.commentId ?? null;
        if (d.comment && !commentId) {
          commentId = randomUUID();
          await trx('decision_comments').insert({ id: commentId, organization_id: input.organizationId, analysis_id: analysis.id, comment: d.comment });
        }
        if (changed) {
          await trx('analyses').where({ id: analysis.id }).update({ status: d.newStatus, decided_at: decidedAt, decided_by: operator.id });
          // SPEC §3: after a decision on one of its analyses, the session's verdict is that decision.
          if (analysis.session_id) await trx('sessions').where({ id: analysis.session_id }).update({ verdict: d.newStatus });
        }
        const event = await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
          organizationId: input.organizationId,
          actor: { type: 'operator', id: operator.id, label: operator.email },
          action: 'analysis.decision',
          category: 'decision',
          resource: { type: 'analysis', id: analysis.id },
          changes: { status: { before, after: d.newStatus }, sessionId: analysis.session_id, commentId, source: d.commentId ? 'api' : 'temporal' },
          outcome: 'success',
          idempotencyKey: auditKey,
          ...context,
        });
        const outcome: DecisionOutcome = {
          accepted: true,
          analysisId: analysis.id,
          newStatus: d.newStatus,
          decidedAt: event.occurred_at.toISOString(),
          decidedBy: operator.id,
          changed,
        };
        if (!input.outbox) return { outcome, webhook: changed ? decisionWebhook(input, analysis, d.newStatus) : null };
        const delivery = changed ? await recordDelivery(trx, decisionWebhook(input, analysis, d.newStatus)) : null;
        return { outcome, webhook: null, deliveryId: delivery?.id ?? null };
      });
    },
  };
}

function decisionWebhook(
  input: RecordDecisionInput,
  analysis: { id: string; entity_id: string; correlation_id: string | null; session_id: string | null },
  newStatus: string,
): NewDelivery {
  return {
    organizationId: input.organizationId,
    event: 'decision',
    eventKey: `decision:${input.decisionKey}`,
    sessionId: analysis.session_id,
    analysisId: analysis.id,
    // Exactly the seed's payload, in its order.
    payload: {
      analysisId: analysis.id,
      entityId: analysis.entity_id,
      correlationId: analysis.correlation_id,
      sessionId: analysis.session_id,
      newStatus,
    },
  };
}

/** Rebuilds a retried decision's result from the ledger event the first run appended. */
async function replay(trx: Db, input: RecordDecisionInput, prior: AuditEventRow): Promise<RecordDecisionResult> {
  const changes = (prior.changes ?? {}) as { reason?: DecisionRefusal; status?: { before: string; after: string } };
  if (prior.outcome === 'failure') {
    const reason = changes.reason ?? 'invalid_input';
    return { outcome: { accepted: false, reason, message: refusalMessages[reason] }, webhook: null, deliveryId: null };
  }
  const status = changes.status!;
  const changed = status.before !== status.after;
  const outcome: DecisionOutcome = {
    accepted: true,
    analysisId: prior.resource_id,
    newStatus: status.after as 'user_approved' | 'user_rejected',
    decidedAt: prior.occurred_at.toISOString(),
    decidedBy: prior.actor_id,
    changed,
  };
  if (input.outbox) {
    // The first run wrote the delivery in the same transaction as the ledger event.
    const delivery = changed
      ? await trx('webhook_deliveries').where({ organization_id: input.organizationId, event_key: `decision:${input.decisionKey}` }).first('id')
      : null;
    return { outcome, webhook: null, deliveryId: delivery?.id ?? null };
  }
  const analysis = await trx('analyses').where({ id: prior.resource_id }).first();
  return { outcome, webhook: changed ? decisionWebhook(input, analysis, status.after) : null };
}
