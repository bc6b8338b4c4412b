import knexFactory, { Knex } from 'knex';

export type Db = Knex;

/**
 * Deadlines of every database call, so that with PostgreSQL unreachable a request fails fast
 * (the API answers 503) instead of hanging: a new connection gives up after
 * `connectTimeoutMs`, a request waiting for a pooled connection after `acquireTimeoutMs`, and
 * the server cancels any statement running past `statementTimeoutMs`. A dropped server is
 * noticed by TCP keepalive. Once PostgreSQL answers again, new connections just work.
 */
export const DB_DEADLINES = { connectTimeoutMs: 2_000, acquireTimeoutMs: 3_000, statementTimeoutMs: 30_000 } as const;

/**
 * The worker's pool waits longer for a connection than the API's. An activity has no client
 * waiting on a quick 503: failing it at 3 s only puts it behind Temporal's retry backoff (up to
 * a minute), which under a bulk purge of one organization (a thousand purges queued on ten
 * connections) turned a burst of work into minutes of retries. 20 s stays under the 30 s
 * start-to-close of the lifecycle activities; an outage still fails them after 20 s.
 */
export const WORKER_DB_DEADLINES = { acquireTimeoutMs: 20_000 } as const;

export function createDb(
  databaseUrl: string,
  pool: { min?: number; max?: number } = {},
  deadlines: Partial<Record<keyof typeof DB_DEADLINES, number>> = {},
): Db {
  const d = { ...DB_DEADLINES, ...deadlines };
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: databaseUrl,
      connectionTimeoutMillis: d.connectTimeoutMs,
      statement_timeout: d.statementTimeoutMs,
      keepAlive: true,
    },
    pool: { min: pool.min ?? 0, max: pool.max ?? 10 },
    acquireConnectionTimeout: d.acquireTimeoutMs,
  });
}
