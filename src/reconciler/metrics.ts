import type { Db } from '../db/knex';

const KINDS = ['purged', 'restarted', 'started', 'promoted', 'rearmed', 'resumed'] as const;

/**
 * The reconciler's counters for /metrics. The worker adds each page's counts to
 * `reconciler_counters` (one row per kind), so every API replica exposes the same totals and
 * a scrape reads a handful of rows by key, never a table scan.
 */
export async function reconcilerMetricLines(db: Db): Promise<string[]> {
  const rows: { kind: string; total: string }[] = await db('reconciler_counters').select('kind', 'total');
  const totals = new Map(rows.map((r) => [r.kind, r.total]));
  return [
    '# HELP kyc_reconciler_repairs_total What the reconciler repaired, by kind (docs/reliability.md).',
    '# TYPE kyc_reconciler_repairs_total counter',
    ...KINDS.map((kind) => `kyc_reconciler_repairs_total{kind="${kind}"} ${totals.get(kind) ?? 0}`),
    '# HELP kyc_reconciler_checked_total Records and deliveries the reconciler looked at.',
    '# TYPE kyc_reconciler_checked_total counter',
    `kyc_reconciler_checked_total ${totals.get('checked') ?? 0}`,
  ];
}
