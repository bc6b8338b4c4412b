import { performance } from 'node:perf_hooks';
import type { Db } from '../../src/db/knex';
import { percentiles, perSecond, pool, type Percentiles } from './stats';

/** One ledger design under measurement: how it appends, how to wait until all is chained, how it verifies. */
export interface LedgerUnderTest {
  append(db: Db, organizationId: string, i: number): Promise<unknown>;
  /** Resolves once every committed event of the organization is chained (no-op when appends chain). */
  settle(db: Db, organizationId: string): Promise<void>;
  verify(db: Db, organizationId: string): Promise<{ valid: boolean; checked: number }>;
}

export interface LedgerRate {
  appends: number;
  concurrency: number;
  /** Appends committed per second (the callers' view). */
  appendsPerSecond: number;
  committedMs: number;
  /** From the first append until every event is chained (the sequencer's view). */
  allChainedMs: number;
  chainedPerSecond: number;
  latencyMs: Percentiles;
  present: number;
  missing: number;
  duplicated: number;
  unchained: number;
  chainValid: boolean;
  chainChecked: number;
}

/**
 * `count` appends in one organization, `concurrency` at a time, each with its own idempotency
 * key (as activities append): committed rate, time until all are chained, latency, and the
 * ledger's counts (every key present once, nothing unchained) and verification.
 */
export async function measureLedgerRate(db: Db, ledger: LedgerUnderTest, organizationId: string, count: number, concurrency: number): Promise<LedgerRate> {
  const latency: number[] = [];
  const started = performance.now();
  await pool(count, concurrency, async (i) => {
    const t = performance.now();
    await ledger.append(db, organizationId, i);
    latency.push(performance.now() - t);
  });
  const committedMs = performance.now() - started;
  await ledger.settle(db, organizationId);
  const allChainedMs = performance.now() - started;
  const [row] = await db('audit_events')
    .where({ organization_id: organizationId, action: 'bench.append' })
    .select(db.raw('count(*) AS n'), db.raw('count(DISTINCT idempotency_key) AS keys'), db.raw('count(*) FILTER (WHERE seq IS NULL) AS unchained'));
  const verified = await ledger.verify(db, organizationId);
  const present = Number(row.keys);
  return {
    appends: count,
    concurrency,
    appendsPerSecond: perSecond(count, committedMs),
    committedMs: Math.round(committedMs),
    allChainedMs: Math.round(allChainedMs),
    chainedPerSecond: perSecond(count, allChainedMs),
    latencyMs: percentiles(latency),
    present,
    missing: count - present,
    duplicated: Number(row.n) - present,
    unchained: Number(row.unchained),
    chainValid: verified.valid,
    chainChecked: verified.checked,
  };
}

export const benchEvent = (organizationId: string, i: number) => ({
  organizationId,
  actor: { type: 'system' as const, id: 'bench' },
  action: 'bench.append',
  category: 'modification' as const,
  resource: { type: 'bench', id: String(i) },
  idempotencyKey: `bench-${i}`,
});
