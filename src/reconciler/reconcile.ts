// The reconciler's checks (docs/reliability.md): the safety net behind the workflows' own
// timers. Each check pages through PostgreSQL in keyset order, a bounded page at a time, asks
// Temporal whether the record's workflow runs (describe; NotFound = missing), and repairs what
// a crash, a terminate or an outage left behind with the same idempotent code as the normal
// path: the purge of retention, the idempotent start by id, a new attempt series.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { purgeSessionRecord, purgeStandaloneAnalysisRecord } from '../purge/purge';
import { analysisStartFromRow, markAnalysisStarted, startAnalysisWorkflow } from '../analyses/analyses';
import type { AuditActor } from '../audit/ledger';
import type { Db } from '../db/knex';
import { markSessionStarted, sessionStartFromRow, startSessionWorkflow, type SessionRow } from '../sessions/sessions';
import { PurgeAt } from '../temporal/searchAttributes';
import type { DeliveryRow } from '../webhooks/deliveries';
import { openAttemptSeries } from '../webhooks/operations';
import { deleteExpiredWebhookSecrets } from '../webhooks/secretRotation';
import {
  analysisWorkflowId,
  retentionChangedSignal,
  sessionWorkflowId,
  webhookWorkflowId,
  type ReconcileCounts,
  type ReconcileCursor,
  type ReconcileStep,
} from '../../workflows/definitions';

export interface ReconcileDeps {
  db: Db;
  temporal: Client;
  /** Where restarted workflows run: the reconciler's own task queue. */
  taskQueue: string;
  auditKey: string;
  retryDelaysSeconds: number[];
  now?: () => Date;
}

export interface ReconcilePageInput {
  step: ReconcileStep;
  after: ReconcileCursor | null;
  limit: number;
  concurrency: number;
  organizationIds?: string[];
  pendingGraceSeconds: number;
  deliveryGraceSeconds: number;
}

export interface ReconcilePage {
  counts: ReconcileCounts;
  /** Where the next page starts; null when this step is done. */
  next: ReconcileCursor | null;
}

export const RECONCILER_ACTOR: AuditActor = { type: 'system', id: 'reconciler', label: 'reconciler' };

export const emptyCounts = (): ReconcileCounts => ({ checked: 0, purged: 0, restarted: 0, started: 0, promoted: 0, rearmed: 0, resumed: 0 });

export function addCounts(into: ReconcileCounts, more: ReconcileCounts): ReconcileCounts {
  for (const k of Object.keys(into) as (keyof ReconcileCounts)[]) into[k] += more[k];
  return into;
}

interface WorkflowPresence {
  running: boolean;
  /** The purge instant the running workflow publishes (search attribute), when it runs. */
  purgeAt?: Date | null;
}

/** Is the latest run of `workflowId` running? Missing (never started, or deleted) = not running. */
export async function workflowPresence(temporal: Client, workflowId: string): Promise<WorkflowPresence> {
  try {
    const described = await temporal.workflow.getHandle(workflowId).describe();
    if (described.status.name !== 'RUNNING') return { running: false };
    return { running: true, purgeAt: described.typedSearchAttributes.get(PurgeAt) ?? null };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { running: false };
    throw err;
  }
}

export async function reconcilePage(deps: ReconcileDeps, input: ReconcilePageInput): Promise<ReconcilePage> {
  switch (input.step) {
    case 'overdue_sessions':
    case 'overdue_analyses':
      return overduePage(deps, input);
    case 'open_sessions':
      return openSessionsPage(deps, input);
    case 'open_analyses':
      return openAnalysesPage(deps, input);
    case 'pending_deliveries':
      return pendingDeliveriesPage(deps, input);
  }
}

// ---- keyset paging -------------------------------------------------------------------

type Query = ReturnType<Db>;

async function keysetPage<T extends { id: string }>(
  query: Query,
  column: string,
  input: ReconcilePageInput,
  table: string,
): Promise<{ rows: T[]; next: ReconcileCursor | null }> {
  if (input.organizationIds) query.whereIn(`${table}.organization_id`, input.organizationIds);
  if (input.after) query.whereRaw(`(${table}.${column}, ${table}.id) > (?::timestamptz, ?::uuid)`, [input.after.at, input.after.id]);
  const rows = (await query.orderBy([{ column: `${table}.${column}` }, { column: `${table}.id` }]).limit(input.limit).select(`${table}.*`)) as T[];
  const last = rows[rows.length - 1] as (T & Record<string, unknown>) | undefined;
  const next = rows.length === input.limit && last ? { at: (last[column] as Date).toISOString(), id: last.id } : null;
  return { rows, next };
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane));
}

// ---- (a) past purge_at, not purged, workflow gone → purge ------------------------------

async function overduePage(deps: ReconcileDeps, input: ReconcilePageInput): Promise<ReconcilePage> {
  const now = (deps.now ?? (() => new Date()))();
  const sessions = input.step === 'overdue_sessions';
  const table = sessions ? 'sessions' : 'analyses';
  const query = deps.db(table).whereNot(`${table}.status`, 'purged').andWhere(`${table}.purge_at`, '<=', now);
  if (!sessions) query.whereNull(`${table}.session_id`);
  const { rows, next } = await keysetPage<{ id: string; organization_id: string }>(query, 'purge_at', input, table);
  const counts = emptyCounts();
  await forEachLimited(rows, input.concurrency, async (row) => {
    counts.checked++;
    const workflowId = sessions ? sessionWorkflowId(row.id) : analysisWorkflowId(row.id);
    // A running workflow purges by itself (at worst a little late): never race it.
    if ((await workflowPresence(deps.temporal, workflowId)).running) return;
    const request = { organizationId: row.organization_id, actor: RECONCILER_ACTOR, context: {}, reason: 'retention' as const };
    if (sessions) await purgeSessionRecord(deps.db, deps.auditKey, { ...request, sessionId: row.id });
    else await purgeStandaloneAnalysisRecord(deps.db, deps.auditKey, { ...request, analysisId: row.id });
    counts.purged++;
  });
  return { counts, next };
}

// ---- (b) open records whose workflow is missing or closed → start / restart ------------

async function retentionOf(deps: ReconcileDeps, cache: Map<string, Promise<{ dataRetention: string | null; revision: number }>>, organizationId: string) {
  let found = cache.get(organizationId);
  if (!found) {
    found = deps.db('settings')
      .where({ organization_id: organizationId })
      .first('data_retention', 'retention_revision')
      .then((s: { data_retention: string | null; retention_revision: string } | undefined) => ({
        dataRetention: s?.data_retention ?? null,
        revision: Number(s?.retention_revision ?? 0),
      }));
    cache.set(organizationId, found);
  }
  return found;
}

const sameInstant = (a: Date | null | undefined, b: Date | null | undefined): boolean => (a?.getTime() ?? null) === (b?.getTime() ?? null);

/**
 * A running workflow whose purge time is not its record's missed a re-arm (its start failed,
 * or it was terminated mid-way): signal the organization's current retention again. A
 * workflow that already has this revision ignores the signal.
 */
async function rearmIfStale(
  deps: ReconcileDeps,
  cache: Map<string, Promise<{ dataRetention: string | null; revision: number }>>,
  workflowId: string,
  row: { organization_id: string; purge_at: Date | null },
  presence: WorkflowPresence,
): Promise<boolean> {
  if (sameInstant(presence.purgeAt, row.purge_at)) return false;
  const { dataRetention, revision } = await retentionOf(deps, cache, row.organization_id);
  try {
    await deps.temporal.workflow.getHandle(workflowId).signal(retentionChangedSignal, { dataRetention, revision });
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false; // ended meanwhile (purged)
    throw err;
  }
}

function openFilter(query: Query, table: string, now: Date): Query {
  // Overdue ones are step (a)'s.
  return query.whereNot(`${table}.status`, 'purged').andWhere((q) => q.whereNull(`${table}.purge_at`).orWhere(`${table}.purge_at`, '>', now));
}

async function openSessionsPage(deps: ReconcileDeps, input: ReconcilePageInput): Promise<ReconcilePage> {
  const now = (deps.now ?? (() => new Date()))();
  const grace = new Date(now.getTime() - input.pendingGraceSeconds * 1000);
  const { rows, next } = await keysetPage<SessionRow & { purge_at: Date | null }>(openFilter(deps.db('sessions'), 'sessions', now), 'created_at', input, 'sessions');
  const counts = emptyCounts();
  const settings = new Map();
  await forEachLimited(rows, input.concurrency, async (row) => {
    counts.checked++;
    if (row.status === 'pending' && row.created_at > grace) return; // a creation in flight
    const workflowId = sessionWorkflowId(row.id);
    const presence = await workflowPresence(deps.temporal, workflowId);
    if (presence.running) {
      if (row.status === 'pending') {
        await markSessionStarted(deps.db, row.id);
        counts.promoted++;
      }
      if (await rearmIfStale(deps, settings, workflowId, row, presence)) counts.rearmed++;
      return;
    }
    // Read again: the workflow may have purged and ended since the page was read.
    const current = await deps.db<SessionRow>('sessions').where({ id: row.id }).first();
    if (!current || current.status === 'purged') return;
    await startSessionWorkflow(deps.temporal, deps.taskQueue, await sessionStartFromRow(deps.db, current), deps.auditKey);
    if (current.status === 'pending') {
      await markSessionStarted(deps.db, row.id);
      counts.started++;
    } else {
      counts.restarted++;
    }
  });
  return { counts, next };
}

async function openAnalysesPage(deps: ReconcileDeps, input: ReconcilePageInput): Promise<ReconcilePage> {
  const now = (deps.now ?? (() => new Date()))();
  const grace = new Date(now.getTime() - input.pendingGraceSeconds * 1000);
  type Row = { id: string; organization_id: string; created_at: Date; correlation_id: string | null; purge_at: Date | null; workflow_pending: boolean; status: string };
  const query = openFilter(deps.db('analyses'), 'analyses', now).whereNull('analyses.session_id');
  const { rows, next } = await keysetPage<Row>(query, 'created_at', input, 'analyses');
  const counts = emptyCounts();
  const settings = new Map();
  await forEachLimited(rows, input.concurrency, async (row) => {
    counts.checked++;
    if (row.workflow_pending && row.created_at > grace) return;
    const workflowId = analysisWorkflowId(row.id);
    const presence = await workflowPresence(deps.temporal, workflowId);
    if (presence.running) {
      if (row.workflow_pending) {
        await markAnalysisStarted(deps.db, row.id);
        counts.promoted++;
      }
      if (await rearmIfStale(deps, settings, workflowId, row, presence)) counts.rearmed++;
      return;
    }
    const current = await deps.db<Row>('analyses').where({ id: row.id }).first();
    if (!current || current.status === 'purged') return;
    await startAnalysisWorkflow(deps.temporal, deps.taskQueue, await analysisStartFromRow(deps.db, current), deps.auditKey);
    if (current.workflow_pending) {
      await markAnalysisStarted(deps.db, row.id);
      counts.started++;
    } else {
      counts.restarted++;
    }
  });
  return { counts, next };
}

// ---- (c) pending deliveries without a running delivery workflow → new series -----------

async function pendingDeliveriesPage(deps: ReconcileDeps, input: ReconcilePageInput): Promise<ReconcilePage> {
  const now = (deps.now ?? (() => new Date()))();
  // Once per run: rotated-out signing secrets whose grace ended go even if no delivery or
  // rotation of their organization comes to delete them.
  if (input.after === null) await deleteExpiredWebhookSecrets(deps.db, { organizationIds: input.organizationIds, now });
  const settled = new Date(now.getTime() - input.deliveryGraceSeconds * 1000);
  const query = deps.db('webhook_deliveries')
    .where('webhook_deliveries.status', 'pending')
    .whereNot('webhook_deliveries.event', 'test')
    .andWhere('webhook_deliveries.updated_at', '<=', settled);
  const { rows, next } = await keysetPage<DeliveryRow>(query, 'created_at', input, 'webhook_deliveries');
  const counts = emptyCounts();
  await forEachLimited(rows, input.concurrency, async (row) => {
    counts.checked++;
    if ((await workflowPresence(deps.temporal, webhookWorkflowId(row.id, row.current_series))).running) return;
    // Resumed as a new series under the same webhook-id: receivers deduplicate, and the
    // schedule restarts from its first attempt instead of replaying the waits already spent.
    const { started } = await openAttemptSeries(
      { db: deps.db, temporal: deps.temporal, taskQueue: deps.taskQueue, retryDelaysSeconds: deps.retryDelaysSeconds, hmacKey: deps.auditKey },
      row,
      {
        organizationId: row.organization_id,
        actor: RECONCILER_ACTOR,
        context: {},
        action: 'webhook_delivery.resume',
        summary: `${row.event} webhook resumed by the reconciler${row.session_id ? ` for session ${row.session_id}` : ''}`,
      },
    ).catch((err: unknown) => {
      // Moved by someone else (a redelivery, its own attempt) since the page was read.
      if ((err as { status?: number }).status === 409) return { started: false };
      throw err;
    });
    if (started) counts.resumed++;
  });
  return { counts, next };
}

// ---- counters for /metrics ---------------------------------------------------------------

/** Adds a page's counts to the totals /metrics exposes (one row per kind, read by key). */
export async function recordCounts(db: Db, counts: ReconcileCounts): Promise<void> {
  const rows = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([kind, total]) => ({ kind, total }));
  if (rows.length === 0) return;
  await db('reconciler_counters')
    .insert(rows)
    .onConflict('kind')
    .merge({ total: db.raw('reconciler_counters.total + excluded.total'), updated_at: db.fn.now() });
}
