// Database round trips per step of one journey, to spot N+1 queries and chatty transactions:
//   npx tsx bench/queryCount.ts [--journeys 5]
// API and worker run in this process on one knex instance (test/support/system), so a step's
// count is every statement (BEGIN/COMMIT included) issued while its request was in flight,
// by the API and by the worker's activities that the request waited for.
import globalSetup, { stopTestInfrastructure } from '../test/support/globalSetup';
import { WebhookReceiver } from '../test/support/receiver';
import { addOperator, call, newOrganization, startSystem } from '../test/support/system';
import { flag } from './lib/stats';

async function main(): Promise<void> {
  const journeys = Number(flag(process.argv.slice(2), 'journeys') ?? 5);
  await globalSetup();
  const receiver = await new WebhookReceiver().start();
  const sys = await startSystem({ TEMPORAL_TASK_QUEUE: `query-count-${process.pid}` });
  let statements = 0;
  const byKind = new Map<string, number>();
  sys.db.on('query', (q: { sql: string }) => {
    statements += 1;
    const kind = q.sql.trim().split(/\s+/).slice(0, 3).join(' ').slice(0, 40);
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  });
  const counts = new Map<string, number[]>();
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const before = statements;
    const value = await run();
    counts.set(name, [...(counts.get(name) ?? []), statements - before]);
    return value;
  };
  try {
    const org = await newOrganization(sys.db, 'query-count');
    const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
    await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionEndWebhookUrl: `${receiver.url}/end`, decisionWebhookUrl: `${receiver.url}/decision` } });
    for (let i = 0; i < journeys; i++) {
      const created = await step('POST /v1/sessions', () => call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: `q-${i}` } }));
      const link = new URL(created.body.link.url).pathname;
      await step('GET /v1/journey/:token', () => call(sys.baseUrl, 'GET', link));
      const analysis = await step('POST /v1/sessions/:id/analyses', () =>
        call(sys.baseUrl, 'POST', `/v1/sessions/${created.body.id}/analyses`, { token: org.apiKey, body: { kind: 'id', status: 'ai_approved' } }),
      );
      await step('POST /v1/journey/:token/complete', () => call(sys.baseUrl, 'POST', `${link}/complete`));
      await step('(session-end webhook, after completion)', () => receiver.waitForPath('/end', i + 1));
      await step('POST /v1/analyses/:id/decision', () => call(sys.baseUrl, 'POST', `/v1/analyses/${analysis.body.id}/decision`, { token: analyst.token, body: { newStatus: 'user_rejected' } }));
      await step('(decision webhook, after the decision)', () => receiver.waitForPath('/decision', i + 1));
      await step('GET /v1/sessions/:id', () => call(sys.baseUrl, 'GET', `/v1/sessions/${created.body.id}`, { token: org.apiKey }));
    }
    const rows = [...counts].map(([name, n]) => ({ step: name, statements: n.join(' ') }));
    process.stdout.write(`${JSON.stringify({ benchmark: 'statements per journey step', journeys, steps: rows, topStatementKinds: [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 15) }, null, 2)}\n`);
  } finally {
    await sys.stop();
    await receiver.stop();
    await stopTestInfrastructure();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
