import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createApp } from '../../src/api/app';
import { stopLedgerSequencer } from '../../src/audit/ledger';
import { Config, parseConfig } from '../../src/config';
import { createDb, Db, WORKER_DB_DEADLINES } from '../../src/db/knex';
import { createOrganization } from '../../src/orgs/organizations';
import { createWorker } from '../../src/temporal/worker';
import { dataConverter } from '../../src/payloads/dataConverter';
import { DataKeyStore, KEY_STORE_POOL_MAX, MasterKeys } from '../../src/payloads/keyStore';
import type { Activities } from '../../activities';
import { hashToken, newToken } from '../../src/orgs/credentials';
import { registerSearchAttributes } from '../../src/temporal/registerSearchAttributes';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { assertMatchesDocument } from './openapiCheck';

// The whole system in the test process, against the real Temporal dev server and the real
// PostgreSQL started by globalSetup: API on an ephemeral port, a worker on a task queue of
// its own (test files run in parallel), the real activities.
export interface TestSystem {
  config: Config;
  db: Db;
  keys: DataKeyStore;
  client: Client;
  baseUrl: string;
  worker: Worker;
  /** A new worker on the same task queue, after the current one was shut down. */
  restartWorker(): Promise<void>;
  stop(): Promise<void>;
}

export const TEST_AUDIT_KEY = 'test-audit-key-0123456789abcdef0123456789abcdef';
export const TEST_METRICS_TOKEN = 'test-metrics-token-0123456789';
/** A fresh Ed25519 checkpoint signing key (PKCS#8 DER, base64). */
export const newSigningKey = (): string =>
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');
export const TEST_SIGNING_KEY = newSigningKey();
/** Also set in the environment by setupEnv.ts, for the CLI tools tests run. */
export const TEST_PAYLOAD_MASTER_KEY = '0f4dccedd533f9bc635bc553d7c7a7894dcdcfec8e034327ba4c99882bf29d3b';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({
    DATABASE_URL: process.env.DATABASE_URL,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    AUDIT_HMAC_KEY: TEST_AUDIT_KEY,
    PAYLOAD_MASTER_KEY: TEST_PAYLOAD_MASTER_KEY,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_RETRY_DELAYS_SECONDS: '1,1,1',
    // Generous: a loaded 2-core machine can take seconds to accept a start (production: 4 s).
    TEMPORAL_START_DEADLINE_MS: '30000',
    LOG_LEVEL: 'silent',
    PORT: '0',
    // Test files hammer one address (127.0.0.1): limits high unless a test sets its own.
    RATE_LIMIT_IP: '1000000/1m',
    RATE_LIMIT_UNAUTHENTICATED: '1000000/1m',
    RATE_LIMIT_PRINCIPAL: '1000000/1m',
    RATE_LIMIT_VERIFY: '1000000/1m',
    RATE_LIMIT_WEBHOOK_TEST: '1000000/1m',
    METRICS_TOKEN: TEST_METRICS_TOKEN,
    METRICS_CACHE_SECONDS: '0',
    AUDIT_SIGNING_KEY: TEST_SIGNING_KEY,
    ...overrides,
  });
}

let runtimeInstalled = false;
/** The SDK's own logs at WARN: worker state changes would drown the test output. */
export function quietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

export async function startSystem(
  overrides: Record<string, string> = {},
  options: { wrapActivities?: (a: Activities) => Activities } = {},
): Promise<TestSystem> {
  process.env.LOG_LEVEL = 'silent';
  quietTemporalRuntime();
  const config0 = testConfig(overrides);
  const db = createDb(config0.DATABASE_URL, { max: config0.DATABASE_POOL_MAX });
  // The worker's own pool, as in production (API and worker are separate processes): a busy
  // worker must not starve the API's requests of connections, nor the reverse.
  const workerDb = createDb(config0.DATABASE_URL, { max: config0.DATABASE_POOL_MAX }, WORKER_DB_DEADLINES);
  const connection = await Connection.connect({ address: config0.TEMPORAL_ADDRESS });
  // The key store's own pool, as in the API and the worker.
  const keysDb = createDb(config0.DATABASE_URL, { max: KEY_STORE_POOL_MAX });
  const keys = new DataKeyStore(keysDb, MasterKeys.fromConfig(config0));
  const client = new Client({ connection, namespace: config0.TEMPORAL_NAMESPACE, dataConverter: dataConverter(keys) });
  const nativeConnection = await NativeConnection.connect({ address: config0.TEMPORAL_ADDRESS });
  let { worker } = await createWorker({ config: config0, db: workerDb, keys, connection: nativeConnection, client, wrapActivities: options.wrapActivities });
  let running = worker.run();

  // Listen first: links embed PUBLIC_BASE_URL, which needs the ephemeral port.
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = { ...config0, PUBLIC_BASE_URL: baseUrl };
  server.on('request', createApp({ config, db, temporal: client, keys }));

  return {
    config,
    db,
    keys,
    client,
    baseUrl,
    get worker() {
      return worker;
    },
    async restartWorker() {
      await running;
      ({ worker } = await createWorker({ config: config0, db: workerDb, keys, connection: nativeConnection, client, wrapActivities: options.wrapActivities }));
      running = worker.run();
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await stopLedgerSequencer(workerDb);
      await stopLedgerSequencer(db);
      await workerDb.destroy();
      await keysDb.destroy();
      await db.destroy();
    },
  };
}

export async function newOrganization(db: Db, name = 'Acme') {
  const org = await createOrganization(db, new MasterKeys(TEST_PAYLOAD_MASTER_KEY), { name, adminEmail: `admin-${randomUUID()}@example.com` });
  const key = await db('api_keys').where({ organization_id: org.organizationId }).first('id');
  /** The organization's API key as the actor of domain calls made directly by tests. */
  const asApiKey = { organizationId: org.organizationId, actor: { type: 'api_key' as const, id: key.id as string, label: 'default' } };
  return { ...org, asApiKey };
}

/** A small JSON HTTP client for tests: returns status, headers and parsed body. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; skipDocumentCheck?: boolean } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let payload: string | undefined;
  if (opts.rawBody !== undefined) payload = opts.rawBody;
  else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
  if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(baseUrl + path, { method, headers, body: payload });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // keep text
  }
  const answer = { status: res.status, headers: res.headers, body };
  // Every response a test sees must be one the OpenAPI document allows.
  if (!opts.skipDocumentCheck) assertMatchesDocument(method, path, answer);
  return answer;
}

/**
 * `call` as a careful client makes it: a 503 (the database or Temporal busy on a loaded
 * machine) is retried after its Retry-After (at most 1 s), a few times. A POST retried this way
 * must carry an Idempotency-Key, as the API asks of clients.
 */
export async function callRetrying503(...args: Parameters<typeof call>): ReturnType<typeof call> {
  for (let attempt = 1; ; attempt++) {
    const answer = await call(...args);
    if (answer.status !== 503 || attempt >= 10) return answer;
    await new Promise((resolve) => setTimeout(resolve, Math.min(1, Number(answer.headers.get('retry-after') ?? 1)) * 1000));
  }
}

/** The time-skipping server starts without our custom search attributes: register them. */
export async function registerTestSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
}

/**
 * Polls `read` until `done` holds, for states that only show through a query or SQL
 * (no event to await). A read that throws (a query timing out on a loaded machine, a
 * worker still starting) counts as "not yet"; after `timeoutMs` the last error or value
 * is reported. The bound only detects a hang: it is generous, never a speed claim.
 */
export async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 180_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await read() };
    } catch (error) {
      outcome = { error };
    }
    if ('value' in outcome && done(outcome.value)) return outcome.value;
    if (Date.now() > deadline) {
      if ('error' in outcome) throw outcome.error;
      throw new Error(`condition not reached within ${timeoutMs} ms; last value: ${JSON.stringify(outcome.value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** An operator of the organization with the given role, inserted directly (tests of other routes). */
export async function addOperator(db: Db, organizationId: string, role: 'admin' | 'analyst' | 'auditor') {
  const id = randomUUID();
  const token = newToken('operator');
  await db('operators').insert({ id, organization_id: organizationId, email: `${role}-${id}@example.com`, role, token_hash: hashToken(token) });
  return { id, token };
}

/** A 4xx/5xx answer in RFC 9457 form, naming each of `fields` in `errors[].path`. */
export function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, fields: string[] = []): void {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, title: expect.any(String), type: expect.stringMatching(/^\/problems\//) });
  const paths = (res.body.errors ?? []).map((e: { path: string }) => e.path);
  for (const field of fields) expect(paths).toContain(field);
}
