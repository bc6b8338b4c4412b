import type { Db } from '../db/knex';
import { reconcilerMetricLines } from '../reconciler/metrics';

// Prometheus text exposition, hand-written to avoid a dependency for a dozen lines.
// HTTP figures are this API process's own; delivery, ledger and purge figures are read
// from PostgreSQL at scrape time, so they are the same whichever replica is scraped and
// include the work done by workers.
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

const requests = new Map<string, number>();
const rateLimited = new Map<string, number>();

export function countRateLimited(limit: string): void {
  rateLimited.set(limit, (rateLimited.get(limit) ?? 0) + 1);
}
const latency = new Map<string, Histogram>();

export function observeHttp(method: string, route: string, status: number, seconds: number): void {
  const key = `method="${method}",route="${route}",status="${status}"`;
  requests.set(key, (requests.get(key) ?? 0) + 1);
  const lkey = `method="${method}",route="${route}"`;
  const h = latency.get(lkey) ?? { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
  BUCKETS.forEach((b, i) => {
    if (seconds <= b) h.counts[i] += 1;
  });
  h.sum += seconds;
  h.count += 1;
  latency.set(lkey, h);
}

export async function renderMetrics(db: Db, cacheMs = 15_000): Promise<string> {
  const lines: string[] = [];
  lines.push('# HELP kyc_http_requests_total HTTP requests served by this API process.', '# TYPE kyc_http_requests_total counter');
  for (const [k, v] of requests) lines.push(`kyc_http_requests_total{${k}} ${v}`);
  lines.push('# HELP kyc_http_request_duration_seconds HTTP latency of this API process.', '# TYPE kyc_http_request_duration_seconds histogram');
  for (const [k, h] of latency) {
    BUCKETS.forEach((b, i) => lines.push(`kyc_http_request_duration_seconds_bucket{${k},le="${b}"} ${h.counts[i]}`));
    lines.push(`kyc_http_request_duration_seconds_bucket{${k},le="+Inf"} ${h.count}`);
    lines.push(`kyc_http_request_duration_seconds_sum{${k}} ${h.sum}`, `kyc_http_request_duration_seconds_count{${k}} ${h.count}`);
  }

  lines.push('# HELP kyc_rate_limited_total Requests refused with 429 by this API process, by limit.', '# TYPE kyc_rate_limited_total counter');
  for (const [k, v] of rateLimited) lines.push(`kyc_rate_limited_total{limit="${k}"} ${v}`);

  lines.push(...(await databaseFigures(db, cacheMs)));
  return `${lines.join('\n')}\n`;
}

/**
 * The figures read from PostgreSQL (shared by every replica and the workers) are aggregates:
 * computed at most once per `cacheMs` per database handle, whatever the scrape rate, and a
 * scrape arriving meanwhile waits for the same query rather than starting its own.
 */
const cached = new WeakMap<Db, { at: number; lines: Promise<string[]> }>();

function databaseFigures(db: Db, cacheMs: number): Promise<string[]> {
  const hit = cached.get(db);
  if (hit && Date.now() - hit.at < cacheMs) return hit.lines;
  const lines = queryDatabaseFigures(db);
  cached.set(db, { at: Date.now(), lines });
  lines.catch(() => cached.delete(db)); // a failed read is not remembered
  return lines;
}

async function queryDatabaseFigures(db: Db): Promise<string[]> {
  const lines: string[] = [];
  const [deliveries, attempts, ledger, sessionsPurged, analysesPurged] = await Promise.all([
    db('webhook_deliveries').select('status').count('* as n').groupBy('status'),
    db('webhook_attempts').select('outcome').count('* as n').groupBy('outcome'),
    db('audit_heads').sum('seq as n').first(),
    db('sessions').whereNotNull('purged_at').count('* as n').first(),
    db('analyses').whereNull('session_id').whereNotNull('purged_at').count('* as n').first(),
  ]);
  lines.push('# HELP kyc_webhook_deliveries Webhook deliveries by current status.', '# TYPE kyc_webhook_deliveries gauge');
  for (const r of deliveries as { status: string; n: string }[]) lines.push(`kyc_webhook_deliveries{status="${r.status}"} ${r.n}`);
  lines.push('# HELP kyc_webhook_attempts_total Webhook delivery attempts by outcome.', '# TYPE kyc_webhook_attempts_total counter');
  for (const r of attempts as { outcome: string; n: string }[]) lines.push(`kyc_webhook_attempts_total{outcome="${r.outcome}"} ${r.n}`);
  lines.push('# HELP kyc_audit_events_total Events appended to the audit ledger.', '# TYPE kyc_audit_events_total counter');
  lines.push(`kyc_audit_events_total ${Number((ledger as { n: string | null } | undefined)?.n ?? 0)}`);
  lines.push('# HELP kyc_purges_total Sessions and standalone analyses purged (retention or erasure).', '# TYPE kyc_purges_total counter');
  lines.push(`kyc_purges_total{resource="session"} ${(sessionsPurged as { n: string }).n}`);
  lines.push(`kyc_purges_total{resource="analysis"} ${(analysesPurged as { n: string }).n}`);
  lines.push(...(await reconcilerMetricLines(db)));
  return lines;
}
