// `npm run bench`: end-to-end throughput and latency of journey sessions on the real stack
// (a Temporal dev server from the pinned binary, PostgreSQL, the API over HTTP, a worker,
// an HTTP receiver on 127.0.0.1). Prints one JSON object; nothing here asserts timings.
//   BENCH_SESSIONS=500 BENCH_CONCURRENCY=25 npm run bench
import globalSetup, { stopTestInfrastructure } from '../test/support/globalSetup';
import { WebhookReceiver } from '../test/support/receiver';
import { call, newOrganization, startSystem, waitUntil } from '../test/support/system';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 10) / 10;
  return { p50: at(50), p95: at(95), p99: at(99), max: at(100) };
}

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

async function main(): Promise<void> {
  process.stderr.write(`bench: starting Temporal dev server and database…\n`);
  await globalSetup();
  const receiver = await new WebhookReceiver().start();
  const sys = await startSystem({ TEMPORAL_TASK_QUEUE: 'bench' });
  try {
    const org = await newOrganization(sys.db, 'Bench');
    await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionEndWebhookUrl: `${receiver.url}/bench` } });
    const rssStart = process.memoryUsage().rss;
    let rssPeak = rssStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);

    const createMs: number[] = [];
    const openMs: number[] = [];
    const completeMs: number[] = [];
    const completedAt = new Map<string, number>();
    const started = performance.now();
    await pool(SESSIONS, CONCURRENCY, async (i) => {
      let t = performance.now();
      const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: `bench-${i}` } });
      if (created.status !== 201) throw new Error(`create answered ${created.status}`);
      createMs.push(performance.now() - t);
      const link = new URL(created.body.link.url).pathname;
      t = performance.now();
      await call(sys.baseUrl, 'GET', link);
      openMs.push(performance.now() - t);
      await call(sys.baseUrl, 'POST', `/v1/sessions/${created.body.id}/analyses`, { token: org.apiKey, body: { kind: 'id', status: 'ai_approved' } });
      t = performance.now();
      const completed = await call(sys.baseUrl, 'POST', `${link}/complete`);
      if (completed.status !== 202) throw new Error(`complete answered ${completed.status}`);
      completeMs.push(performance.now() - t);
      completedAt.set(created.body.id, performance.now());
    });
    const apiDone = performance.now();
    await receiver.waitForPath('/bench', SESSIONS, 300_000);
    const allDelivered = performance.now();
    clearInterval(sampler);
    // The receiver answers before the attempt is recorded: let the log settle before counting.
    await waitUntil(
      () => sys.db('webhook_deliveries').where({ organization_id: org.organizationId, status: 'pending' }).count('* as n').first(),
      (r) => Number(r?.n) === 0,
    );

    const webhookLagMs = receiver.forPath('/bench').map((r) => {
      const { sessionId } = JSON.parse(r.body) as { sessionId: string };
      return r.at - (performance.timeOrigin + completedAt.get(sessionId)!) ;
    });
    const distinctIds = new Set(receiver.forPath('/bench').map((r) => r.headers['webhook-id'])).size;
    const counts = await sys.db('sessions').where({ organization_id: org.organizationId }).select('status').count('* as n').groupBy('status');
    const deliveries = await sys.db('webhook_deliveries').where({ organization_id: org.organizationId }).select('status').count('* as n').groupBy('status');
    const result = {
      sessions: SESSIONS,
      concurrency: CONCURRENCY,
      seconds: { apiPhase: +((apiDone - started) / 1000).toFixed(2), untilAllWebhooks: +((allDelivered - started) / 1000).toFixed(2) },
      throughputSessionsPerSecond: +(SESSIONS / ((allDelivered - started) / 1000)).toFixed(1),
      latencyMs: {
        createSession: percentiles(createMs),
        openLink: percentiles(openMs),
        completeJourney: percentiles(completeMs),
        completionToWebhookReceived: percentiles(webhookLagMs),
      },
      memoryMb: { rssStart: Math.round(rssStart / 2 ** 20), rssPeak: Math.round(rssPeak / 2 ** 20) },
      counts: {
        sessionsByStatus: Object.fromEntries(counts.map((c) => [c.status, Number(c.n)])),
        deliveriesByStatus: Object.fromEntries(deliveries.map((c) => [c.status, Number(c.n)])),
        webhooksReceived: receiver.forPath('/bench').length,
        distinctWebhookIds: distinctIds,
        lost: SESSIONS - distinctIds,
      },
      note: 'API, worker, receiver and bench client share one process and the machine with Temporal and PostgreSQL',
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await sys.stop();
    await receiver.stop();
    await stopTestInfrastructure();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
