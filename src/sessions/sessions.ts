import { correlationIdHash } from '../domain/correlationIdHash';
import { randomUUID } from 'node:crypto';
import { Client, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowUpdateFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/knex';
import { durationToMs } from '../domain/duration';
import { purgeDateFor } from '../domain/retention';
import { purgeSessionRecord } from '../purge/purge';
import { hashToken } from '../orgs/credentials';
import { checkLinkToken, linkTokenPolicy, mintLinkToken, type LinkTokenPolicy } from '../domain/linkToken';
import { settingsForCreation } from '../settings/settings';
import { CorrelationId, LinkExpiresAt, OrganizationId, PurgeAt, SessionStatus } from '../temporal/searchAttributes';
import type { SessionVerdict } from '../domain/verdict';
import type { IdempotencyCheckpoint } from '../api/idempotency';
import { ConcurrencyGate, GateFullError } from '../domain/concurrencyGate';
import { log } from '../log';
import { startDeadline, WORKFLOW_START_DEADLINE_MS, withCallDeadline } from '../temporal/deadlines';
import {
  JourneySessionInput,
  RefusalType,
  type SessionStatus as SessionLifecycleStatus,
  completeJourneyUpdate,
  openLinkUpdate,
  sessionWorkflowId,
} from '../../workflows/definitions';
import { page } from '../api/pagination';
import { appendAuditEvent } from '../audit/ledger';
import type { Caller } from '../analyses/analyses';
import { problems } from '../api/problem';
import { sessionUiMetadata } from '../temporal/uiMetadata';
import type { CreateSessionBody } from '../api/schemas';

export interface SessionDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  publicBaseUrl: string;
  auditKey: string;
  /** Bounds the journey link lookups running at once (src/domain/concurrencyGate.ts); none: unbounded. */
  linkLookups?: ConcurrencyGate;
  /** Mints and checks link tokens (src/domain/linkToken.ts); none: keyed by auditKey, legacy links on. */
  linkTokens?: LinkTokenPolicy;
}

export const linkTokensOf = (deps: Pick<SessionDeps, 'auditKey' | 'linkTokens'>): LinkTokenPolicy => deps.linkTokens ?? linkTokenPolicy(deps.auditKey);

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

export { WORKFLOW_START_DEADLINE_MS };

export interface CreationOptions {
  /** The request's Idempotency-Key checkpoint: the response is saved with the record. */
  checkpoint?: IdempotencyCheckpoint;
}

export type CreatedSession = ReturnType<typeof createdSessionBody>;

function createdSessionBody(a: {
  sessionId: string;
  entityId: string;
  correlationId: string | null;
  linkUrl: string;
  linkExpiresAt: Date;
  linkExpiry: string;
  createdAt: Date;
}) {
  return {
    id: a.sessionId,
    status: 'created',
    entityId: a.entityId,
    correlationId: a.correlationId,
    link: { url: a.linkUrl, expiresAt: a.linkExpiresAt.toISOString() },
    linkExpiry: a.linkExpiry,
    createdAt: a.createdAt.toISOString(),
  };
}

/**
 * POST /v1/sessions (docs/architecture.md, "Creating a session"), without a transaction
 * across Temporal:
 *  1. one short transaction: the entity, the session `pending` and its ledger event (the
 *     organization's ledger lock is held for the append only), and, with an
 *     Idempotency-Key, the response that key will answer;
 *  2. after the commit, `workflow.start` of `session-<id>` (idempotent by id);
 *  3. the session becomes `created`.
 * Temporal unreachable at 2: 503. With an Idempotency-Key the session stays pending and a
 * retry with the key finishes it (same id, same link); without one it is discarded at once
 * (purged, nothing kept). A crash between 1 and 3 is finished by the reconciler.
 * The settings are read under a shared lock (settingsForCreation), so a session created
 * while dataRetention changes gets either the new value or the change's re-arm.
 */
export async function createSession(deps: SessionDeps, caller: Caller, body: CreateSessionBody, now = new Date(), options: CreationOptions = {}) {
  const { organizationId } = caller;
  const sessionId = randomUUID();
  const entityId = randomUUID();
  const token = mintLinkToken(linkTokensOf(deps));
  const createdAt = now;
  // Outside the transaction: the key that seals the saved response may be created now.
  await options.checkpoint?.prepare(sessionId);

  const { response, input } = await deps.db.transaction(async (trx) => {
    const settings = await settingsForCreation(trx, organizationId);
    const linkExpiry = body.linkExpiry ?? settings.sessionLinkExpiry;
    const linkExpiresAt = new Date(createdAt.getTime() + durationToMs(linkExpiry));
    const purgeAt = purgeDateFor(createdAt, settings.dataRetention);
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
      status: 'pending',
      created_at: createdAt,
    });
    const response = createdSessionBody({
      sessionId,
      entityId,
      correlationId: body.correlationId ?? null,
      linkUrl: `${deps.publicBaseUrl}/v1/journey/${token}`,
      linkExpiresAt,
      linkExpiry,
      createdAt,
    });
    await options.checkpoint?.save(trx, response);
    // Last write of the transaction: the ledger head stays locked only until the commit.
    await appendAuditEvent(trx, deps.auditKey, {
      ...caller,
      action: 'session.create',
      category: 'creation',
      resource: { type: 'session', id: sessionId },
      changes: { linkExpiry, linkExpiresAt: linkExpiresAt.toISOString(), entityId, purgeAt: purgeAt?.toISOString() ?? null },
    });
    const input: SessionWorkflowStart = {
      sessionId,
      organizationId,
      createdAt: createdAt.toISOString(),
      linkExpiresAt: linkExpiresAt.toISOString(),
      dataRetention: settings.dataRetention,
      retentionRevision: settings.retentionRevision,
      correlationId: body.correlationId ?? null,
    };
    return { response, input };
  });

  try {
    await startSessionWorkflow(deps.temporal, deps.taskQueue, input, deps.auditKey);
  } catch (err) {
    if (options.checkpoint) {
      throw problems.unavailable(
        'Temporal is unreachable: the session is recorded but not started; retry with the same Idempotency-Key to receive it, or it is started within minutes',
      );
    }
    await discardUnstartedSession(deps, sessionId, err);
    throw problems.unavailable('Temporal is unreachable, so the session cannot be created now; nothing was kept');
  }
  await markSessionStarted(deps.db, sessionId);
  return response;
}

/**
 * The retry of a creation whose response an Idempotency-Key saved: start the workflow if the
 * first request could not, then answer the same response.
 */
export async function resumeSessionCreation(deps: SessionDeps, organizationId: string, saved: unknown) {
  const response = saved as CreatedSession;
  const row = await deps.db<SessionRow & { purge_at: Date | null; retention_revision?: number }>('sessions')
    .where({ id: response.id, organization_id: organizationId })
    .first();
  if (!row) throw problems.conflict('the request with this Idempotency-Key did not create a session');
  if (row.status === 'pending') {
    await startSessionWorkflow(deps.temporal, deps.taskQueue, await sessionStartFromRow(deps.db, row), deps.auditKey).catch(() => {
      throw problems.unavailable('Temporal is unreachable: the session is recorded but not started; retry with the same Idempotency-Key');
    });
    await markSessionStarted(deps.db, row.id);
  }
  return { status: 201, body: response };
}

/** What starting (or restarting) a session's workflow needs, read from its row and settings. */
export type SessionWorkflowStart = JourneySessionInput & { correlationId: string | null };

export async function sessionStartFromRow(
  db: Db,
  row: Pick<SessionRow, 'id' | 'organization_id' | 'created_at' | 'link_expires_at' | 'correlation_id' | 'status' | 'verdict' | 'completed_at' | 'expired_at'>,
): Promise<SessionWorkflowStart> {
  const settings = await db('settings').where({ organization_id: row.organization_id }).first('data_retention', 'retention_revision');
  const restored =
    row.status === 'pending' || row.status === 'created'
      ? undefined
      : {
          status: row.status as Exclude<SessionLifecycleStatus, 'purged'>,
          verdict: (row.verdict as SessionVerdict | null) ?? null,
          completedAt: iso(row.completed_at),
          expiredAt: iso(row.expired_at),
        };
  return {
    sessionId: row.id,
    organizationId: row.organization_id,
    createdAt: row.created_at.toISOString(),
    linkExpiresAt: row.link_expires_at.toISOString(),
    dataRetention: settings?.data_retention ?? null,
    retentionRevision: Number(settings?.retention_revision ?? 0),
    correlationId: row.correlation_id,
    ...(restored ? { restored } : {}),
  };
}

/**
 * Starts `session-<id>`, idempotently: if that workflow already runs (a retry, the reconciler,
 * a start whose answer was lost), this is a no-op; if an earlier run was closed by hand, a new
 * run starts with the same id. Bounded by TEMPORAL_START_DEADLINE_MS (startDeadline).
 */
export async function startSessionWorkflow(
  temporal: Client,
  taskQueue: string,
  start: SessionWorkflowStart,
  /** Keys the CorrelationId search attribute's hash (src/domain/correlationIdHash.ts). */
  auditKey: string,
): Promise<void> {
  const { correlationId, ...input } = start;
  const purgeAt = purgeDateFor(new Date(input.createdAt), input.dataRetention);
  await temporal.withDeadline(startDeadline(temporal), () =>
    temporal.workflow.start('journeySession', {
      workflowId: sessionWorkflowId(input.sessionId),
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [
        { key: OrganizationId, value: input.organizationId },
        { key: SessionStatus, value: input.restored?.status ?? 'created' },
        { key: LinkExpiresAt, value: new Date(input.linkExpiresAt) },
        ...(purgeAt ? [{ key: PurgeAt, value: purgeAt }] : []),
        ...(correlationId ? [{ key: CorrelationId, value: correlationIdHash(auditKey, input.organizationId, correlationId) }] : []),
      ],
      ...sessionUiMetadata({ ...input, purgeAt }),
    }),
  );
}

/** pending → created once its workflow runs; a later state is left as is. */
export async function markSessionStarted(db: Db, sessionId: string): Promise<void> {
  try {
    await db('sessions').where({ id: sessionId, status: 'pending' }).update({ status: 'created' });
  } catch (err) {
    // The workflow runs; the reconciler moves the row on if PostgreSQL refused just now.
    log.warn('session started but still pending', { sessionId, error: (err as Error).message });
  }
}

/**
 * A creation without Idempotency-Key that Temporal did not take: the customer got a 503 and
 * cannot tell this session from a failure, so its data goes at once (tombstone, ledger).
 */
async function discardUnstartedSession(deps: SessionDeps, sessionId: string, cause: unknown): Promise<void> {
  log.warn('session not started, discarded', { sessionId, error: (cause as Error)?.message ?? String(cause) });
  const row = await deps.db('sessions').where({ id: sessionId }).first('organization_id');
  await purgeSessionRecord(deps.db, deps.auditKey, {
    sessionId,
    organizationId: row.organization_id,
    actor: { type: 'system', id: 'creation', label: 'creation not started' },
    context: {},
    reason: 'creation_failed',
  });
}

export async function findSession(db: Db, organizationId: string, sessionId: string): Promise<SessionRow> {
  const row = await db<SessionRow>('sessions').where({ id: sessionId, organization_id: organizationId }).first();
  if (!row) throw problems.notFound('session');
  return row;
}

export async function getSessionView(db: Db, organizationId: string, sessionId: string) {
  // Both reads at once (one round trip of waiting instead of two): the analyses are only
  // returned once the session row proved it belongs to the caller's organization.
  const [row, analyses] = await Promise.all([
    findSession(db, organizationId, sessionId),
    db<AnalysisRow>('analyses').where({ session_id: sessionId }).orderBy('created_at'),
  ]);
  return sessionView(row, analyses);
}

// ---- the end user's link -------------------------------------------------------------

async function sessionByToken(deps: Pick<SessionDeps, 'db' | 'linkLookups' | 'auditKey' | 'linkTokens'>, token: string): Promise<SessionRow> {
  // A token without a valid MAC (or a legacy one with that path off) cannot match: no query.
  if (checkLinkToken(linkTokensOf(deps), token) === 'refused') throw problems.notFound('session link');
  const tokenHash = hashToken(token);
  const lookup = () => deps.db<SessionRow>('sessions').where({ link_token_hash: tokenHash }).first();
  let row: SessionRow | undefined;
  try {
    // Anyone can send any token: these lookups take a bounded share of the pool.
    row = deps.linkLookups ? await deps.linkLookups.run(lookup) : await lookup();
  } catch (err) {
    if (!(err instanceof GateFullError)) throw err;
    const problem = problems.unavailable('too many journey requests are waiting; try again shortly');
    problem.headers['retry-after'] = '1';
    throw problem;
  }
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
  // The update's local activity gave up on a transient fault (PostgreSQL unreachable, a
  // timeout): try again shortly. A permanent failure (a bug) stays a 500.
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ActivityFailure) {
    const cause = err.cause.cause;
    if (!(cause instanceof ApplicationFailure && cause.nonRetryable)) {
      const problem = problems.unavailable('the database is unavailable right now; try again shortly');
      problem.headers['retry-after'] = '5';
      throw problem;
    }
  }
  throw err;
}

export async function openJourney(deps: SessionDeps, token: string) {
  const row = await sessionByToken(deps, token);
  assertLinkUsable(row);
  let status = row.status;
  // `pending`: the 201 went out before the row moved on (the reconciler catches up).
  if (status === 'created' || status === 'pending') {
    const handle = deps.temporal.workflow.getHandle(sessionWorkflowId(row.id));
    status = (await withCallDeadline(deps.temporal, () => handle.executeUpdate(openLinkUpdate)).catch(mapRefusal)).status;
  }
  return { sessionId: row.id, status, expiresAt: row.link_expires_at.toISOString() };
}

export interface UploadLimits {
  maxDocumentBytes: number;
  maxDocumentsPerSession: number;
  maxSessionBytes: number;
}

async function documentsSoFar(db: Db, sessionId: string): Promise<{ count: number; bytes: number }> {
  const row = await db('documents')
    .where({ session_id: sessionId })
    .first(db.raw('count(*)::int as count'), db.raw('coalesce(sum(size_bytes), 0)::bigint as bytes'));
  return { count: Number(row?.count ?? 0), bytes: Number(row?.bytes ?? 0) };
}

/** `adding`: the new document's size, or null before its body is read (is there room at all?). */
function assertUnderCaps(limits: UploadLimits, soFar: { count: number; bytes: number }, adding: number | null): void {
  if (soFar.count + 1 > limits.maxDocumentsPerSession) {
    throw problems.tooLarge(`a session takes at most ${limits.maxDocumentsPerSession} documents`);
  }
  if (adding === null ? soFar.bytes >= limits.maxSessionBytes : soFar.bytes + adding > limits.maxSessionBytes) {
    throw problems.tooLarge(`a session takes at most ${limits.maxSessionBytes} bytes of documents`);
  }
}

/** The checks an upload passes before its body is read: a usable link with room left. */
export async function assertUploadAllowed(deps: SessionDeps & UploadLimits, token: string): Promise<SessionRow> {
  const row = await sessionByToken(deps, token);
  assertLinkUsable(row);
  if (row.status === 'completed') throw problems.conflict('this session is already completed');
  assertUnderCaps(deps, await documentsSoFar(deps.db, row.id), null);
  return row;
}

export async function uploadDocument(
  deps: SessionDeps & UploadLimits,
  token: string,
  doc: { type: string; fileName: string; contentType: string; contentBase64: string },
) {
  const row = await assertUploadAllowed(deps, token);
  const content = Buffer.from(doc.contentBase64, 'base64');
  if (content.length > deps.maxDocumentBytes) {
    throw problems.tooLarge(`documents are limited to ${deps.maxDocumentBytes} bytes`);
  }
  const id = randomUUID();
  // Serialized with the workflow's writes: the purge and the completion lock the session row
  // FOR UPDATE, this write FOR SHARE with its status re-checked, so an upload either lands
  // before a purge (and is purged with the rest) or is refused after it.
  await deps.db.transaction(async (trx) => {
    const locked = await lockSessionForWrite(trx, row.id);
    assertLinkUsable(locked);
    if (locked.status === 'completed') throw problems.conflict('this session is already completed');
    // Uploads of one session one at a time, so concurrent ones cannot overshoot the caps together.
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`documents:${row.id}`]);
    assertUnderCaps(deps, await documentsSoFar(trx, row.id), content.length);
    await trx('documents').insert({
      id,
      organization_id: row.organization_id,
      session_id: row.id,
      type: doc.type,
      file_name: doc.fileName,
      content_type: doc.contentType,
      size_bytes: content.length,
      content,
    });
  });
  return { id };
}

/** The session row, share-locked until the caller's transaction ends (see uploadDocument). */
async function lockSessionForWrite(trx: Db, sessionId: string): Promise<SessionRow> {
  const row = await trx<SessionRow>('sessions').where({ id: sessionId }).forShare().first();
  if (!row) throw problems.notFound('session');
  return row;
}

export async function completeJourney(deps: SessionDeps, token: string) {
  const row = await sessionByToken(deps, token);
  if (row.status === 'completed') throw problems.conflict('this session is already completed');
  assertLinkUsable(row);
  const handle = deps.temporal.workflow.getHandle(sessionWorkflowId(row.id));
  await withCallDeadline(deps.temporal, () => handle.executeUpdate(completeJourneyUpdate)).catch(mapRefusal);
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
  await findSession(db, organizationId, sessionId);
  // Under the session's share lock, status re-checked: completion (FOR UPDATE) consolidates the
  // verdict either after this analysis is committed, counting it, or before, and this is a 409.
  return db.transaction(async (trx) => {
    const session = await lockSessionForWrite(trx, sessionId);
    if (session.status === 'purged') throw problems.gone('this session was deleted');
    if (session.status !== 'created' && session.status !== 'in_progress' && session.status !== 'pending') {
      throw problems.conflict(`analyses can be added while the session is open; it is ${session.status}`);
    }
    if (body.documentId) {
      const doc = await trx('documents').where({ id: body.documentId, session_id: sessionId }).first('id');
      if (!doc) throw problems.validation([{ path: 'documentId', message: 'is not a document of this session' }]);
    }
    const id = randomUUID();
    await trx('analyses').insert({
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
  });
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
