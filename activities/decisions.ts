import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { appendAuditEvent, type AuditEventRow } from '../src/audit/ledger';
import type { Db } from '../src/db/knex';
import { recordDelivery, type NewDelivery } from '../src/webhooks/deliveries';
import { analystDecisionSchema, type AnalystDecision, type MessageRefusal } from '../src/domain/messages';
import type { DecisionOutcome, DecisionRefusal } from '../workflows/definitions';

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

const refusalMessages: Record<DecisionRefusal, string> = {
  invalid_input: 'the decision is malformed: analysisId, newStatus (user_approved|user_rejected) and operatorId are required',
  operator_not_allowed: 'the operator is unknown, disabled, or not allowed to decide (admin or analyst only)',
  analysis_not_found: 'the analysis does not exist or does not belong to this workflow',
  session_not_completed: 'decisions are taken once the session is completed',
  purged: 'the analysis was purged',
  not_recorded: 'the decision could not be recorded',
};

const text = (v: unknown, max: number): string | null => (typeof v === 'string' ? v.slice(0, max) : null);

export function createDecisionActivities({ db, config }: { db: Db; config: { AUDIT_HMAC_KEY: string } }) {
  return {
    /**
     * Records, with outcome failure, a signal the workflow refused as malformed. It takes
     * where validation failed and the well-formed ids only, never the message's values.
     */
    async recordRefusedMessage(input: RecordRefusedMessageInput): Promise<void> {
      if (typeof input?.organizationId !== 'string' || typeof input.key !== 'string' || !input.subject || !input.refusal) {
        throw ApplicationFailure.nonRetryable('recordRefusedMessage: malformed activity input', 'InvalidInput');
      }
      const { refusal } = input;
      const decision = refusal.message === 'analystDecision';
      await db.transaction(async (trx) => {
        const prior = await trx('audit_events').where({ organization_id: input.organizationId, idempotency_key: input.key }).first('id');
        if (prior) return;
        await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
          organizationId: input.organizationId,
          actor: refusal.operatorId ? { type: 'operator', id: refusal.operatorId } : { type: 'system', id: 'temporal-message', label: 'sender unknown (Temporal UI/CLI)' },
          action: decision ? 'analysis.decision' : 'retention.change',
          category: decision ? 'decision' : 'modification',
          resource: decision && refusal.analysisId ? { type: 'analysis', id: refusal.analysisId } : input.subject,
          changes: { reason: 'invalid_input', signal: refusal.message, issues: refusal.issues, workflowSubject: input.subject },
          outcome: 'failure',
          idempotencyKey: input.key,
        });
      });
    },

    /**
     * Validates and records one analyst decision: the analysis, the session's verdict and the
     * ledger change in one transaction. A refused decision is recorded too (outcome failure).
     * Idempotent through the ledger event's key: a retry returns the first run's result.
     */
    async recordDecision(input: RecordDecisionInput): Promise<RecordDecisionResult> {
      if (typeof input?.organizationId !== 'string' || typeof input.decisionKey !== 'string' || typeof input.scope !== 'object' || input.scope === null) {
        throw ApplicationFailure.nonRetryable('recordDecision: malformed activity input', 'InvalidInput');
      }
      const auditKey = `decision:${input.decisionKey}`;
      return db.transaction(async (trx) => {
        // Lock the workflow's subject first, in the order purge and completion take their
        // locks (session, then its analyses), and claim the idempotency key under that lock:
        // a stale attempt and its retry are serialized, and the later one replays the first.
        const subject =
          'sessionId' in input.scope
            ? await trx('sessions').where({ id: input.scope.sessionId, organization_id: input.organizationId }).forUpdate().first('id', 'status')
            : await trx('analyses').where({ id: input.scope.analysisId, organization_id: input.organizationId }).forUpdate().first('id', 'status');
        if (!subject) throw ApplicationFailure.nonRetryable('the workflow\'s session or analysis does not exist', 'NotFound');
        const prior = await trx<AuditEventRow>('audit_events')
          .where({ organization_id: input.organizationId, idempotency_key: auditKey })
          .first();
        if (prior) return replay(trx, input, prior);

        // A signal typed in the Temporal UI can hold anything, null included.
        const raw = (typeof input.decision === 'object' && input.decision !== null ? input.decision : {}) as Partial<Record<keyof AnalystDecision, unknown>>;
        const context = { requestId: text(raw.requestId, 200), ip: text(raw.ip, 100), userAgent: text(raw.userAgent, 1000) };
        const refuse = async (reason: DecisionRefusal, operatorLabel: string | null = null): Promise<RecordDecisionResult> => {
          await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
            organizationId: input.organizationId,
            actor: { type: 'operator', id: text(raw.operatorId, 100) ?? 'unknown', label: operatorLabel },
            action: 'analysis.decision',
            category: 'decision',
            resource: { type: 'analysis', id: text(raw.analysisId, 100) ?? 'unknown' },
            changes: { reason, attemptedStatus: text(raw.newStatus, 40) },
            outcome: 'failure',
            idempotencyKey: auditKey,
            ...context,
          });
          return { outcome: { accepted: false, reason, message: refusalMessages[reason] }, webhook: null, deliveryId: null };
        };

        const parsed = analystDecisionSchema.safeParse(input.decision);
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
          // The session is the subject locked above.
          if (subject.status === 'purged') return refuse('purged', operator.email);
          if (subject.status !== 'completed') return refuse('session_not_completed', operator.email);
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
          changes: {
            status: { before, after: d.newStatus },
            sessionId: analysis.session_id,
            commentId,
            source: d.commentId ? 'api' : 'temporal',
            // Provenance stamped by the workflow on signals: not something the sender can claim away.
            ...((input.decision as { via?: unknown }).via === 'temporal' ? { via: 'temporal' } : {}),
          },
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

export interface RecordRefusedMessageInput {
  organizationId: string;
  /** The workflow's subject, which received the message. */
  subject: { type: 'session' | 'analysis'; id: string };
  refusal: MessageRefusal;
  /** Stable across retries and replays: the ledger event's idempotency key. */
  key: string;
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
