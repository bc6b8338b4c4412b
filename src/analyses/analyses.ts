import { correlationIdHash } from '../domain/correlationIdHash';
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { problems } from '../api/problem';
import type { CreateStandaloneAnalysisBody } from '../api/schemas';
import { appendAuditEvent, type AuditActor, type AuditContext } from '../audit/ledger';
import type { Db } from '../db/knex';
import { durationToMs } from '../domain/duration';
import { analysisView, type AnalysisRow } from '../sessions/sessions';
import { settingsForCreation } from '../settings/settings';
import { CorrelationId, OrganizationId, PurgeAt } from '../temporal/searchAttributes';
import {
  analysisWorkflowId,
  decideUpdate,
  sessionWorkflowId,
  type DecisionRefusal,
  type StandaloneAnalysisInput,
} from '../../workflows/definitions';

export interface AnalysisDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  auditKey: string;
}

export interface Caller extends AuditContext {
  organizationId: string;
  actor: AuditActor;
}

async function findAnalysis(db: Db, organizationId: string, analysisId: string): Promise<AnalysisRow> {
  const row = await db<AnalysisRow>('analyses').where({ id: analysisId, organization_id: organizationId }).first();
  if (!row) throw problems.notFound('analysis');
  return row;
}

export async function getAnalysisView(db: Db, organizationId: string, analysisId: string) {
  return analysisView(await findAnalysis(db, organizationId, analysisId));
}

/** An analysis outside any session, with its own workflow (`analysis-<id>`) for decisions and retention. */
export async function createStandaloneAnalysis(deps: AnalysisDeps, caller: Caller, body: CreateStandaloneAnalysisBody, now = new Date()) {
  const { organizationId } = caller;
  const analysisId = randomUUID();

  return deps.db.transaction(async (trx) => {
    // Read under a shared lock: a concurrent retention change waits, then re-arms this one too.
    const settings = await settingsForCreation(trx, organizationId);
    const purgeAt = settings.dataRetention ? new Date(now.getTime() + durationToMs(settings.dataRetention)) : null;
    let entityId = body.entityId;
    if (entityId) {
      const entity = await trx('entities').where({ id: entityId, organization_id: organizationId }).first('id', 'purged_at');
      if (!entity) throw problems.validation([{ path: 'entityId', message: 'is not an entity of this organization' }]);
    } else {
      entityId = randomUUID();
      await trx('entities').insert({
        id: entityId,
        organization_id: organizationId,
        type: body.entity?.type ?? 'person',
        personal_data: body.entity?.userInput ? JSON.stringify(body.entity.userInput) : null,
        created_at: now,
      });
    }
    await trx('analyses').insert({
      id: analysisId,
      organization_id: organizationId,
      session_id: null,
      entity_id: entityId,
      kind: body.kind,
      status: body.status,
      result: body.result ? JSON.stringify(body.result) : null,
      correlation_id: body.correlationId ?? null,
      created_at: now,
      purge_at: purgeAt,
    });
    await appendAuditEvent(trx, deps.auditKey, {
      ...caller,
      action: 'analysis.create',
      category: 'creation',
      resource: { type: 'analysis', id: analysisId },
      changes: { status: body.status, kind: body.kind, entityId, sessionId: null },
    });
    const input: StandaloneAnalysisInput = {
      analysisId,
      organizationId,
      createdAt: now.toISOString(),
      dataRetention: settings.dataRetention,
      retentionRevision: settings.retentionRevision,
    };
    await deps.temporal.workflow.start('standaloneAnalysis', {
      workflowId: analysisWorkflowId(analysisId),
      taskQueue: deps.taskQueue,
      args: [input],
      typedSearchAttributes: [
        { key: OrganizationId, value: organizationId },
        ...(purgeAt ? [{ key: PurgeAt, value: purgeAt }] : []),
        ...(body.correlationId ? [{ key: CorrelationId, value: correlationIdHash(deps.auditKey, organizationId, body.correlationId) }] : []),
      ],
      staticSummary: `Standalone analysis ${analysisId}`,
    });
    return { id: analysisId, sessionId: null, entityId, correlationId: body.correlationId ?? null, status: body.status, createdAt: now.toISOString() };
  });
}

const refusalStatus: Record<DecisionRefusal, (message: string) => Error> = {
  invalid_input: (m) => problems.validation([], m),
  operator_not_allowed: (m) => problems.forbidden(m),
  analysis_not_found: () => problems.notFound('analysis'),
  session_not_completed: (m) => problems.conflict(m),
  purged: (m) => problems.gone(m),
};

/**
 * An analyst's decision through the API: the owning workflow applies it (the same handler
 * as the `analystDecision` signal) and answers with the outcome.
 */
export async function decideAnalysis(
  deps: AnalysisDeps,
  caller: Caller,
  analysisId: string,
  body: { newStatus: 'user_approved' | 'user_rejected'; comment?: string },
) {
  const analysis = await findAnalysis(deps.db, caller.organizationId, analysisId);
  if (analysis.status === 'purged') throw problems.gone('this analysis was purged');
  if (analysis.session_id) {
    const session = await deps.db('sessions').where({ id: analysis.session_id }).first('status');
    if (session.status === 'purged') throw problems.gone('this session was purged');
    if (session.status !== 'completed') throw problems.conflict(`decisions are taken once the session is completed; it is ${session.status}`);
  }
  // The comment may hold personal data: it stays in PostgreSQL (purged with the analysis); only its id travels.
  let commentId: string | undefined;
  if (body.comment) {
    commentId = randomUUID();
    await deps.db('decision_comments').insert({ id: commentId, organization_id: caller.organizationId, analysis_id: analysisId, comment: body.comment });
  }
  const workflowId = analysis.session_id ? sessionWorkflowId(analysis.session_id) : analysisWorkflowId(analysisId);
  try {
    const outcome = await deps.temporal.workflow.getHandle(workflowId).executeUpdate(decideUpdate, {
      args: [
        {
          analysisId,
          newStatus: body.newStatus,
          operatorId: caller.actor.id,
          commentId,
          requestId: caller.requestId ?? null,
          ip: caller.ip ?? null,
          userAgent: caller.userAgent ?? null,
        },
      ],
    });
    if (!outcome.accepted) throw refusalStatus[outcome.reason](outcome.message);
    return { analysisId, newStatus: outcome.newStatus, decidedAt: outcome.decidedAt, decidedBy: outcome.decidedBy, changed: outcome.changed };
  } catch (err) {
    if (commentId) await deps.db('decision_comments').where({ id: commentId }).delete();
    if (err instanceof WorkflowNotFoundError) throw problems.gone('this analysis was purged');
    throw err;
  }
}
