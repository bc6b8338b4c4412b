import { ServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { problems } from '../api/problem';
import { createRetentionActivities } from '../../activities/retention';
import type { AuditContext } from '../audit/ledger';
import type { Db } from '../db/knex';
import type { DataKeyStore } from '../payloads/keyStore';
import { eraseUpdate, sessionWorkflowId } from '../../workflows/definitions';
import { findSession } from './sessions';

export interface ErasureResult {
  id: string;
  status: 'purged';
  purgedAt: string;
}

/**
 * DELETE /v1/sessions/:id, the right to erasure: the session's workflow purges now (the same
 * purge as retention's, recorded as the operator's deletion), then ends; the answer comes once
 * the data is gone. Idempotent: an already purged session answers with its tombstone and
 * nothing is recorded again. Should the workflow no longer run (terminated by hand in the
 * Temporal UI), the purge runs here instead, with the same code.
 */
export async function eraseSession(
  deps: { db: Db; temporal: Client; auditKey: string; keys?: DataKeyStore },
  organizationId: string,
  sessionId: string,
  who: { operatorId: string } & AuditContext,
): Promise<ErasureResult> {
  const row = await findSession(deps.db, organizationId, sessionId);
  if (row.status === 'purged') return { id: row.id, status: 'purged', purgedAt: row.purged_at!.toISOString() };
  const request = { operatorId: who.operatorId, requestId: who.requestId ?? null, ip: who.ip ?? null, userAgent: who.userAgent ?? null };
  try {
    const { purgedAt } = await deps.temporal.workflow.getHandle(sessionWorkflowId(row.id)).executeUpdate(eraseUpdate, { args: [request] });
    return { id: row.id, status: 'purged', purgedAt };
  } catch (err) {
    if (err instanceof ServiceError && !(err instanceof WorkflowNotFoundError)) {
      throw problems.unavailable('Temporal is unreachable, so the session cannot be erased now; nothing was deleted');
    }
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const { purgedAt } = await createRetentionActivities({ db: deps.db, keys: deps.keys, config: { AUDIT_HMAC_KEY: deps.auditKey } }).purgeSession({
      sessionId: row.id,
      organizationId,
      actor: { type: 'operator', id: who.operatorId },
      context: { requestId: request.requestId, ip: request.ip, userAgent: request.userAgent },
    });
    return { id: row.id, status: 'purged', purgedAt };
  }
}
