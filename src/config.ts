// Configuration from the environment, validated once at start: a wrong value stops the
// process with one line naming the variable instead of failing later in a request.
import { embeddedDatabaseUrl } from './db/defaultUrl';
import { z } from 'zod';
import { loadSigningKey } from './domain/ledgerCheckpoint';
import { RATE_LIMIT_RE } from './domain/tokenBucket';
import { temporalConnectionOptions, TemporalTlsConfigError } from './temporal/connectionOptions';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const durationString = z.string().regex(/^(\d+d)?(\d+h)?(\d+m)?$/, 'must be a duration like 1d, 12h or 30m');

const secondsList = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'must be a comma-separated list of seconds')
  .transform((v) => v.split(',').map(Number));

const rateLimit = z.string().regex(RATE_LIMIT_RE, 'must be "off" or N/period like 60/1m');

export const configSchema = z.object({
  /** Unset: the embedded PGlite server of `npm start` (src/db/defaultUrl.ts). */
  DATABASE_URL: z.string().url().default(embeddedDatabaseUrl()),
  TEMPORAL_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port').default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('kyc-journeys'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PUBLIC_BASE_URL: z.string().url().optional(),
  AUDIT_HMAC_KEY: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)'),
  /** Wraps the payload codec's data keys (docs/architecture.md ("Payload encryption")). Rotation: the old one moves to _PREVIOUS. */
  PAYLOAD_MASTER_KEY: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal characters (openssl rand -hex 32)'),
  PAYLOAD_MASTER_KEY_PREVIOUS: z
    .string()
    .regex(/^[0-9a-fA-F]{64}(,[0-9a-fA-F]{64})*$/, 'must be comma-separated keys of 64 hexadecimal characters')
    .transform((v) => v.split(','))
    .optional(),
  /** Origins of the Temporal Web UIs allowed to call the codec server (comma-separated). */
  CODEC_CORS_ORIGINS: z
    .string()
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
    .default(['http://127.0.0.1:8233', 'http://localhost:8233']),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool.default(false),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60000).default(15000),
  /** Backoff between attempts; SPEC §5's schedule, about three days in all. */
  WEBHOOK_RETRY_DELAYS_SECONDS: secondsList.default([5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]),
  /** Floors lowerable for tests and demos; the ceilings are fixed by the product. */
  LINK_EXPIRY_MIN: durationString.default('1m'),
  DATA_RETENTION_MIN: durationString.default('1d'),
  MAX_DOCUMENT_BYTES: z.coerce.number().int().min(1024).default(10 * 1024 * 1024),
  /**
   * Worker tuning (docs/performance.md). Sessions spend their life waiting on timers: a bounded
   * sticky cache keeps the worker's memory flat however many are open (an evicted session
   * replays its short history when its next task comes). Unset concurrency = the SDK's defaults.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1500),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).optional(),
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).optional(),
  /** host:port for the worker's Prometheus endpoint (SDK metrics: sticky cache, task latencies). */
  TEMPORAL_WORKER_METRICS_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port').optional(),
  /** Connections per process to PostgreSQL. */
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** How long the API (and the reconciler) waits for Temporal to take a workflow start before a 503. */
  TEMPORAL_START_DEADLINE_MS: z.coerce.number().int().min(100).max(60000).default(4000),
  /** How often the reconciler's Schedule runs (docs/reliability.md); `npm start` uses 1m. */
  RECONCILE_INTERVAL: durationString.refine((v) => v !== '', 'must not be empty').default('5m'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Interface the API listens on; forced to loopback when private-network webhooks are allowed. */
  HOST: z.string().min(1).optional(),
  /** Per-session caps on what a journey link may upload (a link lives up to 60 days). */
  MAX_DOCUMENTS_PER_SESSION: z.coerce.number().int().min(1).default(20),
  MAX_SESSION_DOCUMENT_BYTES: z.coerce.number().int().min(1024).default(60 * 1024 * 1024),
  /**
   * Journey link lookups (anyone can send one, with any token) use at most this many of the
   * DATABASE_POOL_MAX connections at once (and always at least one fewer than the pool has);
   * up to JOURNEY_LOOKUP_QUEUE more wait, beyond that a 503. Keeps a flood of random tokens from starving authenticated requests (docs/security.md).
   */
  JOURNEY_LOOKUP_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(2),
  JOURNEY_LOOKUP_QUEUE: z.coerce.number().int().min(0).default(2000),
  /**
   * Journey link tokens carry a MAC under a key derived from this secret (unset: from
   * AUDIT_HMAC_KEY), so forged ones are refused without a query (docs/security.md, "Link
   * tokens"). Rotation: the old value moves to _PREVIOUS until links minted with it expired.
   */
  JOURNEY_LINK_KEY: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)').optional(),
  JOURNEY_LINK_KEY_PREVIOUS: z
    .string()
    .transform((v) => v.split(',').filter(Boolean))
    .refine((keys) => keys.every((k) => k.length >= 32), 'must be comma-separated secrets of at least 32 characters')
    .optional(),
  /** Links issued before tokens carried a MAC go on to the database lookup; off once they all expired (60 days at most). */
  JOURNEY_LEGACY_LINKS: bool.default(true),
  /** Token buckets, "N/period" (burst N, N per period) or "off"; see docs/security.md. */
  RATE_LIMIT_IP: rateLimit.default('1200/1m'),
  RATE_LIMIT_UNAUTHENTICATED: rateLimit.default('60/1m'),
  RATE_LIMIT_PRINCIPAL: rateLimit.default('600/1m'),
  RATE_LIMIT_VERIFY: rateLimit.default('6/1m'),
  RATE_LIMIT_WEBHOOK_TEST: rateLimit.default('10/1m'),
  /** /metrics: on its own listener (METRICS_PORT, on METRICS_HOST) and/or behind a bearer token. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Database-derived figures are recomputed at most this often, whatever the scrape rate. */
  METRICS_CACHE_SECONDS: z.coerce.number().int().min(0).default(15),
  /** Operator tokens expire this long after they are issued (unset: no expiry). */
  OPERATOR_TOKEN_TTL: durationString.optional(),
  /** Ed25519 private key (PKCS#8 PEM, or its DER in base64) signing ledger checkpoints. */
  AUDIT_SIGNING_KEY: z.string().min(40).optional(),
  AUDIT_CHECKPOINT_EVERY_EVENTS: z.coerce.number().int().min(1).default(100),
  AUDIT_CHECKPOINT_EVERY_MINUTES: z.coerce.number().int().min(1).default(60),
  /** How often the API looks for organizations due a checkpoint. */
  AUDIT_CHECKPOINT_POLL_SECONDS: z.coerce.number().int().min(1).default(30),
  /** Temporal over mTLS (a cluster) or with an API key (Temporal Cloud): files are PEM paths. */
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
});

export type Config = z.infer<typeof configSchema> & { PUBLIC_BASE_URL: string; HOST: string };

export function parseConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "not set" so `FOO= npm start` falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = configSchema.safeParse(cleaned);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid configuration: ${name} ${issue.message}`);
  }
  const c = result.data;
  const loopback = ['127.0.0.1', '::1', 'localhost'];
  if (c.WEBHOOK_ALLOW_PRIVATE_NETWORKS && c.HOST && !loopback.includes(c.HOST)) {
    // The SSRF guard is off: an API reachable from elsewhere would let anyone probe the host's network.
    throw new ConfigError(`invalid configuration: HOST must be a loopback address while WEBHOOK_ALLOW_PRIVATE_NETWORKS is on (got ${c.HOST})`);
  }
  try {
    // Reads and checks the PEM files now: a wrong path fails the start, not the first call.
    temporalConnectionOptions(c);
  } catch (err) {
    if (err instanceof TemporalTlsConfigError) throw new ConfigError(`invalid configuration: ${err.message}`);
    throw err;
  }
  if (c.AUDIT_SIGNING_KEY) {
    try {
      loadSigningKey(c.AUDIT_SIGNING_KEY);
    } catch (err) {
      throw new ConfigError(`invalid configuration: AUDIT_SIGNING_KEY is not an Ed25519 private key (PKCS#8 PEM or base64 DER): ${(err as Error).message}`);
    }
  }
  const HOST = c.HOST ?? (c.WEBHOOK_ALLOW_PRIVATE_NETWORKS ? '127.0.0.1' : '0.0.0.0');
  return { ...c, HOST, PUBLIC_BASE_URL: c.PUBLIC_BASE_URL ?? `http://127.0.0.1:${c.PORT}` };
}

export class ConfigError extends Error {}

/** For process entry points: print one clear line and exit on bad configuration. */
export function loadConfigOrExit(env = process.env): Config {
  try {
    return parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
