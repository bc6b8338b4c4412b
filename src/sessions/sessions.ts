import { correlationIdHash } from '../domain/correlationIdHash';
import { randomUUID } from 'node:crypto';
import { Client, WorkflowUpdateFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/knex';
import { durationToMs } from '../domain/duration';
import { hashToken, newLinkToken } from '../orgs/credentials';
import { settingsForCreation } from '../settings/settings';
import { CorrelationId, LinkExpiresAt, OrganizationId, PurgeAt, SessionStatus } from '../temporal/searchAttributes';
import {
  JourneySessionInput,
  RefusalType,
  completeJourneyUpdate,
  openLinkUpdate,
  sessionWorkflowId,
} from '../../workflows/definitions';
import { page } from '../api/pagination';
import { appendAuditEvent } from '../audit/ledger';
import type { Caller } from '../analyses/analyses';
import { problems } from '../api/problem';
import type { CreateSessionBody } from '../api/schemas';

export interface SessionDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  publicBaseUrl: string;
  auditKey: string;
}

export interface SessionRow {
  id: string;
  organization_id: string;
  entity_id: string;
  journey_id: string | null;
  correlation_id: string | null;
  status: string;
  verdict: string | null;
  link_expiry: string;
  link_token_hash: string;
  link_expires_at: Date;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  expired_at: Date | null;
  purged_at: Date | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function sessionView(row: SessionRow, analyses: AnalysisRow[]) {
  return {
    id: row.id,
    status: row.status,
    verdict: row.verdict,
    entityId: row.entity_id,
    journeyId: row.journey_id,
    correlationId: row.correlation_id,
    link: { expiresAt: row.link_expires_at.toISOString() },
    createdAt: row.created_at.toISOString(),
    completedAt: iso(row.completed_at),
    expiredAt: iso(row.expired_at),
    purgedAt: iso(row.purged_at),
    analyses: analyses.map(analysisView),
  };
}

export interface AnalysisRow {
  id: string;
  organization_id: string;
  session_id: string | null;
  entity_id: string;
  document_id: string | null;
  kind: string;
  status: string;
  result: Record<string, unknown> | null;
  correlation_id: string | null;
  created_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  purged_at: Date | null;
}

export function analysisView(a: AnalysisRow) {
  return {
    id: a.id,
    sessionId: a.session_id,
    entityId: a.entity_id,
    documentId: a.document_id,
    correlationId: a.correlation_id,
    kind: a.kind,
    status: a.status,
    result: a.result,
    createdAt: a.created_at.toISOString(),
    decidedAt: iso(a.decided_at),
    decidedBy: a.decided_by,
    purgedAt: iso(a.purged_at),
  };
}

/**
 * Records the session and starts its workflow in one step: the row is committed only once
 * Temporal has accepted the workflow, so no session exists without its timers. The settings
 * are read inside that transaction under a shared lock (settingsForCreation), so a session
 * created while dataRetention changes gets either the new value or the change's re-arm.
 */
export async function createSession(deps: SessionDeps, caller: Caller, body: CreateSessionBody, now = new Date()) {
  const { organizationId } = caller;
  const sessionId = randomUUID();
  const entityId = randomUUID();
  const token = newLinkToken();
  const createdAt = now;

  const { linkExpiry, linkExpiresAt } = await deps.db.transaction(async (trx) => {
    const settings = await settingsForCreation(trx, organizationId);
    const linkExpiry = body.linkExpiry ?? settings.sessionLinkExpiry;
    const linkExpiresAt = new Date(createdAt.getTime() + durationToMs(linkExpiry));
    const purgeAt = settings.dataRetention ? new Date(createdAt.getTime() + durationToMs(settings.dataRetention)) : null;
    await trx('entities').insert({
      id: entityId,
      organization_id: organizationId,
      type: body.entity?.type ?? 'person',
      personal_data: body.userInput ? JSON.stringify(body.userInput) : null,
      created_at: createdAt,
    });
    await trx('sessions').insert({
      id: sessionId,
      organization_id: organizationId,
      entity_id: entityId,
      journey_id: body.journeyId ?? null,
      correlation_id: body.correlationId ?? null,
      redirect_url: body.redirectUrl ?? null,
      link_token_hash: hashToken(token),
      link_expiry: linkExpiry,
      link_expires_at: linkExpiresAt,
      purge_at: purgeAt,
      status: 'created',
      created_at: createdAt,
    });
    await appendAuditEvent(trx, deps.auditKey, {
      ...caller,
      action: 'session.create',
      category: 'creation',
      resource: { type: 'session', id: sessionId },
      changes: { linkExpiry, linkExpiresAt: linkExpiresAt.toISOString(), entityId, purgeAt: purgeAt?.toISOString() ?? null },
    });
    const input: JourneySessionInput = {
      sessionId,
      organizationId,
      createdAt: createdAt.toISOString(),
      linkExpiresAt: linkExpiresAt.toISOString(),
      dataRetention: settings.dataRetention,
      retentionRevision: settings.retentionRevision,
    };
    await deps.temporal.workflow.start('journeySession', {
      workflowId: sessionWorkflowId(sessionId),
      taskQueue: deps.taskQueue,
      args: [input],
      typedSearchAttributes: [
        { key: OrganizationId, value: organizationId },
        { key: SessionStatus, value: 'created' },
        { key: LinkExpiresAt, value: linkExpiresAt },
        ...(purgeAt ? [{ key: PurgeAt, value: purgeAt }] : []),
        ...(body.correlationId ? [{ key: CorrelationId, value: correlationIdHash(deps.auditKey, organizationId, body.correlationId) }] : []),
      ],
      staticSummary: `Journey session ${sessionId}`,
      staticDetails: `organization ${organizationId}`,
    });
    return { linkExpiry, linkExpiresAt };
  });

  return {
    id: sessionId,
    status: 'created',
    entityId,
    correlationId: body.correlationId ?? null,
    link: { url: `${deps.publicBaseUrl}/v1/journey/${token}`, expiresAt: linkExpiresAt.toISOString() },
    linkExpiry,
    createdAt: createdAt.toISOString(),
  };
}

export async function findSession(db: Db, organizationId: string, sessionId: string): Promise<SessionRow> {
  const row = await db<SessionRow>('sessions').where({ id: sessionId, organization_id: organizationId }).first();
  if (!row) throw problems.notFound('session');
  return row;
}

export async function getSessionView(db: Db, organizationId: string, sessionId: string) {
  const row = await findSession(db, organizationId, sessionId);
  const analyses = await db<AnalysisRow>('analyses').where({ session_id: sessionId }).orderBy('created_at');
  return sessionView(row, analyses);
}

// ---- the end user's link -------------------------------------------------------------

async function sessionByToken(db: Db, token: string): Promise<SessionRow> {
  // Tokens are 43 base64url characters; anything else cannot match, answer without a query.
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) throw problems.notFound('session link');
  const row = await db<SessionRow>('sessions').where({ link_token_hash: hashToken(token) }).first();
  if (!row) throw problems.notFound('session link');
  return row;
}

/** The link's usability is decided by the clock, not by the timer: 410 from expiresAt on. */
function assertLinkUsable(row: SessionRow, now = new Date()): void {
  if (row.status === 'purged') throw problems.gone('this session was deleted');
  if (row.status === 'expired' || now.getTime() >= row.link_expires_at.getTime()) {
    throw problems.gone('this session link has expired');
  }
}

function mapRefusal(err: unknown): never {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    switch (err.cause.type) {
      case RefusalType.LinkExpired:
        throw problems.gone('this session link has expired');
      case RefusalType.SessionPurged:
        throw problems.gone('this session was deleted');
      case RefusalType.AlreadyCompleted:
        throw problems.conflict('this session is already completed');
    }
  }
  // The workflow has ended (expired while the request was in flight).
  if (err instanceof WorkflowNotFoundError) throw problems.gone('this session link has expired');
  throw err;
}

export async function openJourney(deps: SessionDeps, token: string) {
  const row = await sessionByToken(deps.db, token);
  assertLinkUsable(row);
  let status = row.status;
  if (status === 'created') {
    const handle = deps.temporal.workflow.getHandle(sessionWorkflowId(row.id));
    status = (await handle.executeUpdate(openLinkUpdate).catch(mapRefusal)).status;
  }
  return { sessionId: row.id, status, expiresAt: row.link_expires_at.toISOString() };
}

export async function uploadDocument(
  deps: SessionDeps & { maxDocumentBytes: number },
  token: string,
  doc: { type: string; fileName: string; contentType: string; contentBase64: string },
) {
  const row = await sessionByToken(deps.db, token);
  assertLinkUsable(row);
  if (row.status === 'completed') throw problems.conflict('this session is already completed');
  const content = Buffer.from(doc.contentBase64, 'base64');
  if (content.length > deps.maxDocumentBytes) {
    throw problems.tooLarge(`documents are limited to ${deps.maxDocumentBytes} bytes`);
  }
  const id = randomUUID();
  await deps.db('documents').insert({
    id,
    organization_id: row.organization_id,
    session_id: row.id,
    type: doc.type,
    file_name: doc.fileName,
    content_type: doc.contentType,
    size_bytes: content.length,
    content,
  });
  return { id };
}

export async function completeJourney(deps: SessionDeps, token: string) {
  const row = await sessionByToken(deps.db, token);
  if (row.status === 'completed') throw problems.conflict('this session is already completed');
  assertLinkUsable(row);
  const handle = deps.temporal.workflow.getHandle(sessionWorkflowId(row.id));
  await handle.executeUpdate(completeJourneyUpdate).catch(mapRefusal);
  // The end user learns that the journey is done, not its verdict.
  return { sessionId: row.id, status: 'completed' as const };
}

// ---- analyses produced by the journey ------------------------------------------------

export async function addSessionAnalysis(
  db: Db,
  organizationId: string,
  sessionId: string,
  body: { documentId?: string; kind: string; status: string; result?: Record<string, unknown> },
) {
  const session = await findSession(db, organizationId, sessionId);
  if (session.status === 'purged') throw problems.gone('this session was deleted');
  if (session.status !== 'created' && session.status !== 'in_progress') {
    throw problems.conflict(`analyses can be added while the session is open; it is ${session.status}`);
  }
  if (body.documentId) {
    const doc = await db('documents').where({ id: body.documentId, session_id: sessionId }).first('id');
    if (!doc) throw problems.validation([{ path: 'documentId', message: 'is not a document of this session' }]);
  }
  const id = randomUUID();
  await db('analyses').insert({
    id,
    organization_id: organizationId,
    session_id: sessionId,
    entity_id: session.entity_id,
    document_id: body.documentId ?? null,
    kind: body.kind,
    status: body.status,
    result: body.result ? JSON.stringify(body.result) : null,
    correlation_id: session.correlation_id,
  });
  return { id, sessionId, entityId: session.entity_id, status: body.status };
}

export async function listSessions(
  db: Db,
  organizationId: string,
  q: { limit: number; cursor?: string; status?: string; verdict?: string; correlationId?: string },
) {
  const query = db<SessionRow>('sessions').where({ organization_id: organizationId });
  if (q.status) query.andWhere({ status: q.status });
  if (q.verdict) query.andWhere({ verdict: q.verdict });
  if (q.correlationId) query.andWhere({ correlation_id: q.correlationId });
  const { rows, nextCursor } = await page<SessionRow>(query, { limit: q.limit, cursor: q.cursor, table: 'sessions' });
  const analyses = rows.length
    ? await db<AnalysisRow>('analyses').whereIn('session_id', rows.map((r) => r.id)).orderBy('created_at')
    : [];
  return {
    data: rows.map((r) => sessionView(r, analyses.filter((a) => a.session_id === r.id))),
    nextCursor,
  };
}
