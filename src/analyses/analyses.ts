import { correlationIdHash } from '../domain/correlationIdHash';
import { decisionRequestIds } from '../domain/decisionRequestId';
import { randomUUID } from 'node:crypto';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { log } from '../log';
import { page } from '../api/pagination';
import { HttpProblem, problems } from '../api/problem';
import { analysisUiMetadata } from '../temporal/uiMetadata';
import type { CreateStandaloneAnalysisBody } from '../api/schemas';
import { appendAuditEvent, type AuditActor, type AuditContext } from '../audit/ledger';
import type { Db } from '../db/knex';
import { purgeStandaloneAnalysisRecord } from '../purge/purge';
import { purgeDateFor } from '../domain/retention';
import { analysisView, type AnalysisRow, type CreationOptions } from '../sessions/sessions';
import { startDeadline, withCallDeadline } from '../temporal/deadlines';
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

/** Newest first, e.g. the review queue (`status: verify`); keyset-paginated like every list. */
export async function listAnalyses(
  db: Db,
  organizationId: string,
  q: { limit: number; cursor?: string; status?: string; sessionId?: string; correlationId?: string },
) {
  const query = db<AnalysisRow>('analyses').where({ organization_id: organizationId });
  if (q.status) query.andWhere({ status: q.status });
  if (q.sessionId) query.andWhere({ session_id: q.sessionId });
  if (q.correlationId) query.andWhere({ correlation_id: q.correlationId });
  const { rows, nextCursor } = await page<AnalysisRow>(query, { limit: q.limit, cursor: q.cursor, table: 'analyses' });
  return { data: rows.map(analysisView), nextCursor };
}

/**
 * An analysis outside any session, with its own workflow (`analysis-<id>`) for decisions and
 * retention. Created like a session (sessions.ts, createSession): committed first with
 * `workflow_pending`, its workflow started by id after the commit, then the flag cleared.
 */
export async function createStandaloneAnalysis(
  deps: AnalysisDeps,
  caller: Caller,
  body: CreateStandaloneAnalysisBody,
  now = new Date(),
  options: CreationOptions = {},
) {
  const { organizationId } = caller;
  const analysisId = randomUUID();

  const { response, start } = await deps.db.transaction(async (trx) => {
    // Read under a shared lock: a concurrent retention change waits, then re-arms this one too.
    const settings = await settingsForCreation(trx, organizationId);
    const purgeAt = purgeDateFor(now, settings.dataRetention);
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
      workflow_pending: true,
    });
    const response = { id: analysisId, sessionId: null, entityId, correlationId: body.correlationId ?? null, status: body.status, createdAt: now.toISOString() };
    await options.checkpoint?.save(trx, response);
    // Last write of the transaction: the ledger head stays locked only until the commit.
    await appendAuditEvent(trx, deps.auditKey, {
      ...caller,
      action: 'analysis.create',
      category: 'creation',
      resource: { type: 'analysis', id: analysisId },
      changes: { status: body.status, kind: body.kind, entityId, sessionId: null },
    });
    const start: AnalysisWorkflowStart = {
      analysisId,
      organizationId,
      createdAt: now.toISOString(),
      dataRetention: settings.dataRetention,
      retentionRevision: settings.retentionRevision,
      correlationId: body.correlationId ?? null,
    };
    return { response, start };
  });

  try {
    await startAnalysisWorkflow(deps.temporal, deps.taskQueue, start, deps.auditKey);
  } catch (err) {
    if (options.checkpoint) {
      throw problems.unavailable(
        'Temporal is unreachable: the analysis is recorded but not started; retry with the same Idempotency-Key to receive it, or it is started within minutes',
      );
    }
    log.warn('standalone analysis not started, discarded', { analysisId, error: (err as Error)?.message ?? String(err) });
    await purgeStandaloneAnalysisRecord(deps.db, deps.auditKey, {
      analysisId,
      organizationId,
      actor: { type: 'system', id: 'creation', label: 'creation not started' },
      context: {},
      reason: 'creation_failed',
    });
    throw problems.unavailable('Temporal is unreachable, so the analysis cannot be created now; nothing was kept');
  }
  await markAnalysisStarted(deps.db, analysisId);
  return response;
}

/** The retry of a creation an Idempotency-Key saved: start the workflow if still pending. */
export async function resumeAnalysisCreation(deps: AnalysisDeps, organizationId: string, saved: unknown) {
  const response = saved as { id: string };
  const row = await deps.db('analyses').where({ id: response.id, organization_id: organizationId }).first();
  if (!row) throw problems.conflict('the request with this Idempotency-Key did not create an analysis');
  if (row.workflow_pending && row.status !== 'purged') {
    await startAnalysisWorkflow(deps.temporal, deps.taskQueue, await analysisStartFromRow(deps.db, row), deps.auditKey).catch(() => {
      throw problems.unavailable('Temporal is unreachable: the analysis is recorded but not started; retry with the same Idempotency-Key');
    });
    await markAnalysisStarted(deps.db, row.id);
  }
  return { status: 201, body: saved };
}

export type AnalysisWorkflowStart = StandaloneAnalysisInput & { correlationId: string | null };

export async function analysisStartFromRow(
  db: Db,
  row: { id: string; organization_id: string; created_at: Date; correlation_id: string | null },
): Promise<AnalysisWorkflowStart> {
  const settings = await db('settings').where({ organization_id: row.organization_id }).first('data_retention', 'retention_revision');
  return {
    analysisId: row.id,
    organizationId: row.organization_id,
    createdAt: row.created_at.toISOString(),
    dataRetention: settings?.data_retention ?? null,
    retentionRevision: Number(settings?.retention_revision ?? 0),
    correlationId: row.correlation_id,
  };
}

/** Starts `analysis-<id>` idempotently by id (see startSessionWorkflow). */
export async function startAnalysisWorkflow(
  temporal: Client,
  taskQueue: string,
  start: AnalysisWorkflowStart,
  /** Keys the CorrelationId search attribute's hash (src/domain/correlationIdHash.ts). */
  auditKey: string,
): Promise<void> {
  const { correlationId, ...input } = start;
  const purgeAt = purgeDateFor(new Date(input.createdAt), input.dataRetention);
  await temporal.withDeadline(startDeadline(temporal), () =>
    temporal.workflow.start('standaloneAnalysis', {
      workflowId: analysisWorkflowId(input.analysisId),
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [
        { key: OrganizationId, value: input.organizationId },
        ...(purgeAt ? [{ key: PurgeAt, value: purgeAt }] : []),
        ...(correlationId ? [{ key: CorrelationId, value: correlationIdHash(auditKey, input.organizationId, correlationId) }] : []),
      ],
      ...analysisUiMetadata({ ...input, purgeAt }),
    }),
  );
}

export async function markAnalysisStarted(db: Db, analysisId: string): Promise<void> {
  try {
    await db('analyses').where({ id: analysisId, workflow_pending: true }).update({ workflow_pending: false });
  } catch (err) {
    log.warn('analysis started but still pending', { analysisId, error: (err as Error).message });
  }
}

const refusalStatus: Record<DecisionRefusal, (message: string) => Error> = {
  invalid_input: (m) => problems.validation([], m),
  operator_not_allowed: (m) => problems.forbidden(m),
  analysis_not_found: () => problems.notFound('analysis'),
  session_not_completed: (m) => problems.conflict(m),
  purged: (m) => problems.gone(m),
  not_recorded: (m) => problems.conflict(m),
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
  options: { idempotencyKey?: string } = {},
) {
  const analysis = await findAnalysis(deps.db, caller.organizationId, analysisId);
  // With a key, a retry is the same update (Temporal answers it with the first outcome) and
  // the same comment row; without one, each request is a decision of its own.
  const ids = options.idempotencyKey === undefined
    ? undefined
    : decisionRequestIds(deps.auditKey, { organizationId: caller.organizationId, analysisId, idempotencyKey: options.idempotencyKey, body });
  if (analysis.status === 'purged') throw problems.gone('this analysis was purged');
  if (analysis.session_id) {
    const session = await deps.db('sessions').where({ id: analysis.session_id }).first('status');
    if (session.status === 'purged') throw problems.gone('this session was purged');
    if (session.status !== 'completed') throw problems.conflict(`decisions are taken once the session is completed; it is ${session.status}`);
  }
  // The comment may hold personal data: it stays in PostgreSQL (purged with the analysis); only its id travels.
  let commentId: string | undefined;
  if (body.comment) {
    const id = ids?.commentId ?? randomUUID();
    // Share-locked with the status re-checked (the purge locks session and analyses FOR
    // UPDATE, in that order): a comment never lands in an analysis already purged.
    await deps.db.transaction(async (trx) => {
      if (analysis.session_id) {
        const session = await trx('sessions').where({ id: analysis.session_id }).forShare().first('status');
        if (session?.status === 'purged') throw problems.gone('this session was purged');
      }
      const locked = await trx('analyses').where({ id: analysisId }).forShare().first('status');
      if (!locked || locked.status === 'purged') throw problems.gone('this analysis was purged');
      await trx('decision_comments').insert({ id, organization_id: caller.organizationId, analysis_id: analysisId, comment: body.comment }).onConflict('id').ignore();
    });
    commentId = id;
  }
  const workflowId = analysis.session_id ? sessionWorkflowId(analysis.session_id) : analysisWorkflowId(analysisId);
  try {
    const outcome = await withCallDeadline(deps.temporal, () => deps.temporal.workflow.getHandle(workflowId).executeUpdate(decideUpdate, {
      ...(ids ? { updateId: ids.updateId } : {}),
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
    }));
    if (!outcome.accepted) throw refusalStatus[outcome.reason](outcome.message);
    return { analysisId, newStatus: outcome.newStatus, decidedAt: outcome.decidedAt, decidedBy: outcome.decidedBy, changed: outcome.changed };
  } catch (err) {
    // A refused decision takes its comment back; one whose answer did not come in time (503)
    // may still be applied, so its comment stays (purged with the analysis in any case).
    if (commentId && (err instanceof HttpProblem || err instanceof WorkflowNotFoundError)) {
      await deps.db('decision_comments').where({ id: commentId }).delete();
    }
    if (err instanceof WorkflowNotFoundError) throw problems.gone('this analysis was purged');
    throw err;
  }
}
