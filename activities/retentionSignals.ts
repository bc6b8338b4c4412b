import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { appendAuditEvent } from '../src/audit/ledger';
import type { Db } from '../src/db/knex';

/**
 * Why an unrevisioned `retentionChanged` signal (typed in the Temporal UI/CLI) was refused:
 * it named no operator, or one who is not an active admin of the workflow's organization.
 */
export type RetentionSignalRefusal = 'operator_missing' | 'operator_not_allowed';

export interface AuthorizeRetentionSignalInput {
  organizationId: string;
  /** The workflow's subject, whose purge the signal would move. */
  subject: { type: 'session' | 'analysis'; id: string };
  /** The validated signal: a duration or null, and the operator it names, if any. */
  change: { dataRetention: string | null; operatorId?: string };
  /** The purge instant now, and the one the change would set: recorded either way. */
  purgeAt: { before: string | null; after: string | null };
  /** Stable across retries and replays: the ledger event's idempotency key. */
  key: string;
}

const inputSchema = z.object({
  organizationId: z.string().min(1).max(100),
  subject: z.object({ type: z.enum(['session', 'analysis']), id: z.string().min(1).max(100) }),
  change: z.object({ dataRetention: z.string().max(20).nullable(), operatorId: z.uuid().optional() }),
  purgeAt: z.object({ before: z.string().max(40).nullable(), after: z.string().max(40).nullable() }),
  key: z.string().min(1).max(200),
});

export function createRetentionSignalActivities({ db, config }: { db: Db; config: { AUDIT_HMAC_KEY: string } }) {
  return {
    /**
     * Decides whether an unrevisioned `retentionChanged` signal may apply: only when it names an
     * active admin of the organization (the API's re-arm sends revisioned changes and never
     * comes here). Records the signal in the ledger (via temporal), outcome success or failure,
     * in one transaction; idempotent by key, so a retry answers what the first run recorded.
     */
    async authorizeRetentionSignal(raw: AuthorizeRetentionSignalInput): Promise<{ accepted: boolean; reason?: RetentionSignalRefusal }> {
      const parsed = inputSchema.safeParse(raw);
      if (!parsed.success) throw ApplicationFailure.nonRetryable('authorizeRetentionSignal: malformed activity input', 'InvalidInput');
      const input = parsed.data;
      return db.transaction(async (trx) => {
        const prior = await trx('audit_events').where({ organization_id: input.organizationId, idempotency_key: input.key }).first('outcome', 'changes');
        if (prior) return prior.outcome === 'success' ? { accepted: true } : { accepted: false, reason: (prior.changes as { reason: RetentionSignalRefusal }).reason };
        const { operatorId } = input.change;
        const operator = operatorId
          ? await trx('operators').where({ id: operatorId, organization_id: input.organizationId }).first('id', 'email', 'role', 'disabled_at')
          : undefined;
        const allowed = !!operator && operator.role === 'admin' && !operator.disabled_at;
        const reason: RetentionSignalRefusal | undefined = allowed ? undefined : operatorId ? 'operator_not_allowed' : 'operator_missing';
        await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
          organizationId: input.organizationId,
          actor: operatorId
            ? { type: 'operator', id: operatorId, label: operator?.email ?? null }
            : { type: 'system', id: 'temporal-message', label: 'sender unknown (Temporal UI/CLI)' },
          action: 'retention.change',
          category: 'modification',
          resource: input.subject,
          changes: {
            via: 'temporal',
            signal: 'retentionChanged',
            dataRetention: { after: input.change.dataRetention },
            purgeAt: input.purgeAt,
            ...(reason ? { reason } : {}),
          },
          outcome: allowed ? 'success' : 'failure',
          idempotencyKey: input.key,
        });
        return allowed ? { accepted: true } : { accepted: false, reason };
      });
    },
  };
}
