import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createApp, createMetricsApp } from '../../src/api/app';
import { createDb } from '../../src/db/knex';
import { call, expectProblem, startSystem, TEST_METRICS_TOKEN, TestSystem } from '../support/system';

// /metrics is not public: behind METRICS_TOKEN, or on a listener of its own (METRICS_PORT);
// its database figures are not recomputed on every scrape.
let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

async function serve<T>(app: Express, use: (baseUrl: string) => Promise<T>): Promise<T> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

test('with METRICS_TOKEN, /metrics answers only to that bearer token', async () => {
  expectProblem(await call(sys.baseUrl, 'GET', '/metrics'), 401);
  expectProblem(await call(sys.baseUrl, 'GET', '/metrics', { token: 'x'.repeat(TEST_METRICS_TOKEN.length) }), 401);
  const ok = await call(sys.baseUrl, 'GET', '/metrics', { token: TEST_METRICS_TOKEN });
  expect(ok.status).toBe(200);
  expect(ok.body).toMatch(/kyc_audit_events_total \d+/);
});

test('without METRICS_TOKEN, the public listener has no /metrics; the metrics listener serves it', async () => {
  const config = { ...sys.config, METRICS_TOKEN: undefined };
  await serve(createApp({ config, db: sys.db, temporal: sys.client, keys: sys.keys }), async (base) => {
    expectProblem(await call(base, 'GET', '/metrics'), 404);
  });
  await serve(createMetricsApp({ config, db: sys.db }), async (base) => {
    const res = await call(base, 'GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/kyc_webhook_attempts_total|kyc_audit_events_total/);
    expectProblem(await call(base, 'GET', '/v1/sessions'), 404); // nothing else on it
  });
});

test('a scrape storm costs one round of aggregate queries per METRICS_CACHE_SECONDS', async () => {
  const db = createDb(sys.config.DATABASE_URL);
  const queries: string[] = [];
  db.on('query', (q: { sql: string }) => queries.push(q.sql));
  try {
    await serve(createMetricsApp({ config: { ...sys.config, METRICS_CACHE_SECONDS: 3600 }, db }), async (base) => {
      expect((await call(base, 'GET', '/metrics', { token: TEST_METRICS_TOKEN })).status).toBe(200);
      const first = queries.length;
      expect(first).toBeGreaterThan(0);
      await Promise.all(Array.from({ length: 20 }, () => call(base, 'GET', '/metrics', { token: TEST_METRICS_TOKEN })));
      expect(queries.length).toBe(first);
    });
  } finally {
    await db.destroy();
  }
});
