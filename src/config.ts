// Configuration from the environment, validated once at start: a wrong value stops the
// process with one line naming the variable instead of failing later in a request.
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const durationString = z.string().regex(/^(\d+d)?(\d+h)?(\d+m)?$/, 'must be a duration like 1d, 12h or 30m');

const secondsList = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'must be a comma-separated list of seconds')
  .transform((v) => v.split(',').map(Number));

export const configSchema = z.object({
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/kyc'),
  TEMPORAL_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port').default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('kyc-journeys'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PUBLIC_BASE_URL: z.string().url().optional(),
  AUDIT_HMAC_KEY: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)'),
  /** Wraps the payload codec's data keys (docs/security.md). Rotation: the old one moves to _PREVIOUS. */
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
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export type Config = z.infer<typeof configSchema> & { PUBLIC_BASE_URL: string };

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
  return { ...c, PUBLIC_BASE_URL: c.PUBLIC_BASE_URL ?? `http://127.0.0.1:${c.PORT}` };
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
