import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import type { Db } from '../db/knex';
import { startDeadline } from '../temporal/deadlines';
import { MINUTE_MS, parseDuration } from '../domain/duration';
import { OrganizationId } from '../temporal/searchAttributes';
import {
  analysisWorkflowId,
  retentionChangedSignal,
  retentionRearmWorkflowId,
  sessionWorkflowId,
  type RearmCursor,
  type RearmKind,
  type RearmProgress,
  type RetentionRearmInput,
} from '../../workflows/definitions';

// Data retention in force (docs/settings.md, "How a retention change reaches every workflow"):
//  1. in the PATCH transaction, the purge_at column of every not-yet-purged session and
//     standalone analysis of the organization is recomputed in one UPDATE (created_at +
//     retention), and a `retentionRearm` workflow is started for the new settings revision;
//  2. that workflow's activity pages through those rows in PostgreSQL (keyset on created_at,
//     id) and signals each one's workflow `retentionChanged {dataRetention, revision}`, a
//     bounded number at a time, heartbeating its position; each workflow re-arms its timer,
//     or purges at once if it is now overdue.

const minutesOf = (dataRetention: string): number => {
  const parsed = parseDuration(dataRetention);
  if (!parsed.ok) throw new RangeError(`invalid stored retention ${JSON.stringify(dataRetention)}`);
  return parsed.minutes;
};

/** The purge instant a retention gives, as SQL over `created_at`; null keeps indefinitely. */
function purgeAtSql(db: Db, dataRetention: string | null) {
  return dataRetention === null ? null : db.raw('created_at + make_interval(mins => ?::int)', [minutesOf(dataRetention)]);
}

/** Recomputes purge_at of every record of the organization that retention has not purged yet. */
export async function reschedulePurges(
  trx: Db,
  organizationId: string,
  dataRetention: string | null,
): Promise<{ sessions: number; analyses: number }> {
  const sessions = await trx('sessions')
    .where({ organization_id: organizationId })
    .whereNot({ status: 'purged' })
    .update({ purge_at: purgeAtSql(trx, dataRetention) });
  const analyses = await trx('analyses')
    .where({ organization_id: organizationId })
    .whereNull('session_id')
    .whereNot({ status: 'purged' })
    .update({ purge_at: purgeAtSql(trx, dataRetention) });
  return { sessions, analyses };
}

/**
 * Starts the re-arm of one settings revision, after the transaction that committed it; a
 * second start of the same revision joins the running one. Bounded like every start.
 */
export async function startRetentionRearm(
  temporal: Client,
  taskQueue: string,
  input: RetentionRearmInput,
): Promise<{ workflowId: string }> {
  const workflowId = retentionRearmWorkflowId(input.organizationId, input.revision);
  await temporal.withDeadline(startDeadline(temporal), () => temporal.workflow.start('retentionRearm', {
    workflowId,
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [{ key: OrganizationId, value: input.organizationId }],
    staticSummary: `Retention re-arm, settings revision ${input.revision}`,
    staticDetails: `organization ${input.organizationId}`,
  }));
  return { workflowId };
}

export type RearmPage =
  | { outcome: 'pending' }
  | { outcome: 'superseded' }
  | { outcome: 'page'; dataRetention: string | null; signalled: number; missing: number; next: RearmCursor | null };

/**
 * One page of a re-arm: reads the revision's value from PostgreSQL (the source of truth) and
 * signals the workflows of up to `limit` records after `after`, `concurrency` at a time.
 * Running it again re-sends the same signals, which the workflows ignore (same revision).
 */
export async function rearmPage(
  deps: { db: Db; temporal: Client },
  input: { organizationId: string; revision: number; kind: RearmKind; after: RearmCursor | null; limit: number; concurrency: number },
): Promise<RearmPage> {
  const settings = await deps.db('settings')
    .where({ organization_id: input.organizationId })
    .first('data_retention', 'retention_revision');
  if (!settings) throw new Error(`organization ${input.organizationId} has no settings row`);
  const current = Number(settings.retention_revision);
  // Not committed yet (the PATCH transaction is still open) or already replaced by a newer change.
  if (current < input.revision) return { outcome: 'pending' };
  if (current > input.revision) return { outcome: 'superseded' };

  const query =
    input.kind === 'session'
      ? deps.db('sessions').where({ organization_id: input.organizationId })
      : deps.db('analyses').where({ organization_id: input.organizationId }).whereNull('session_id');
  query.whereNot({ status: 'purged' });
  if (input.after) query.whereRaw('(created_at, id) > (?::timestamptz, ?::uuid)', [input.after.createdAt, input.after.id]);
  const rows: { id: string; created_at: Date }[] = await query
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .limit(input.limit)
    .select('id', 'created_at');

  const change = { dataRetention: settings.data_retention as string | null, revision: input.revision };
  const workflowIdOf = input.kind === 'session' ? sessionWorkflowId : analysisWorkflowId;
  let signalled = 0;
  let missing = 0;
  await forEachLimited(rows, input.concurrency, async (row) => {
    try {
      await deps.temporal.workflow.getHandle(workflowIdOf(row.id)).signal(retentionChangedSignal, change);
      signalled++;
    } catch (err) {
      // Its workflow has ended: purged since the page was read (or terminated by an operator).
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      missing++;
    }
  });
  const last = rows[rows.length - 1];
  return {
    outcome: 'page',
    dataRetention: change.dataRetention,
    signalled,
    missing,
    next: rows.length === input.limit ? { createdAt: last.created_at.toISOString(), id: last.id } : null,
  };
}

export type RearmRun =
  | { outcome: 'pending' }
  | { outcome: 'superseded' }
  | { outcome: 'done' | 'more'; dataRetention: string | null; progress: RearmProgress };

/**
 * Pages from `from` on, sessions first then standalone analyses, for up to `budgetMs`; reports
 * each page's progress (the activity heartbeats it, so a retry resumes there). `progress`
 * counts are totals, `from`'s included.
 */
export async function rearmRecords(
  deps: { db: Db; temporal: Client },
  input: {
    organizationId: string;
    revision: number;
    from: RearmProgress;
    pageSize: number;
    concurrency: number;
    budgetMs: number;
    onPage?: (progress: RearmProgress) => void;
  },
): Promise<RearmRun> {
  const until = Date.now() + input.budgetMs;
  let progress: RearmProgress = { ...input.from };
  for (;;) {
    const page = await rearmPage(deps, {
      organizationId: input.organizationId,
      revision: input.revision,
      kind: progress.kind,
      after: progress.after,
      limit: input.pageSize,
      concurrency: input.concurrency,
    });
    if (page.outcome !== 'page') return page;
    progress = { kind: progress.kind, after: page.next, signalled: progress.signalled + page.signalled, missing: progress.missing + page.missing };
    if (!page.next) {
      if (progress.kind === 'analysis') return { outcome: 'done', dataRetention: page.dataRetention, progress };
      progress = { ...progress, kind: 'analysis', after: null };
    }
    input.onPage?.(progress);
    if (Date.now() >= until) return { outcome: 'more', dataRetention: page.dataRetention, progress };
  }
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane));
}

// ---- preview ------------------------------------------------------------------------------

export interface RetentionForecast {
  /** Records retention has not purged yet. */
  total: number;
  /** Already past the new deadline: purged within a minute of saving. */
  purgeNow: number;
  /** Purges in the next `horizonDays`, per UTC day (days without any omitted). */
  scheduled: { date: string; count: number }[];
  /** Purged after the horizon. */
  later: number;
  /** Never purged: the new value is null (keep indefinitely). */
  kept: number;
}

export interface RetentionPreview {
  dataRetention: string | null;
  currentDataRetention: string | null;
  asOf: string;
  horizonDays: number;
  sessions: RetentionForecast;
  analyses: RetentionForecast;
}

/** What saving `dataRetention` would do, computed like the re-arm: created_at + retention. */
export async function retentionPreview(
  db: Db,
  organizationId: string,
  dataRetention: string | null,
  horizonDays: number,
  now = new Date(),
): Promise<RetentionPreview> {
  const settings = await db('settings').where({ organization_id: organizationId }).first('data_retention');
  const forecast = async (kind: RearmKind): Promise<RetentionForecast> => {
    const base = () =>
      kind === 'session'
        ? db('sessions').where({ organization_id: organizationId }).whereNot({ status: 'purged' })
        : db('analyses').where({ organization_id: organizationId }).whereNull('session_id').whereNot({ status: 'purged' });
    if (dataRetention === null) {
      const { total } = (await base().count<{ total: string }[]>('* as total'))[0];
      return { total: Number(total), purgeNow: 0, scheduled: [], later: 0, kept: Number(total) };
    }
    const retentionMs = minutesOf(dataRetention) * MINUTE_MS;
    // Purged once now >= created_at + retention, i.e. created_at <= now - retention.
    const overdueUpTo = new Date(now.getTime() - retentionMs);
    const horizonUpTo = new Date(now.getTime() + horizonDays * 24 * 60 * MINUTE_MS - retentionMs);
    const [counts] = await base().select(
      db.raw('count(*) as total'),
      db.raw('count(*) filter (where created_at <= ?) as purge_now', [overdueUpTo]),
      db.raw('count(*) filter (where created_at > ?) as later', [horizonUpTo]),
    );
    const days: { date: string; count: string }[] = await base()
      .where('created_at', '>', overdueUpTo)
      .andWhere('created_at', '<=', horizonUpTo)
      .select(
        db.raw(`to_char((created_at + make_interval(mins => ?::int)) at time zone 'UTC', 'YYYY-MM-DD') as date`, [retentionMs / MINUTE_MS]),
        db.raw('count(*) as count'),
      )
      .groupBy('date')
      .orderBy('date');
    return {
      total: Number(counts.total),
      purgeNow: Number(counts.purge_now),
      scheduled: days.map((d) => ({ date: d.date, count: Number(d.count) })),
      later: Number(counts.later),
      kept: 0,
    };
  };
  return {
    dataRetention,
    currentDataRetention: settings?.data_retention ?? null,
    asOf: now.toISOString(),
    horizonDays,
    sessions: await forecast('session'),
    analyses: await forecast('analysis'),
  };
}
