// The one place a purge instant is computed (SPEC §7): retention counts from the creation of
// the session or standalone analysis; null keeps indefinitely. Used by the workflows, the
// creation of records and the reconciler; the bulk re-arm in SQL (src/settings/retention.ts,
// purgeAtSql) computes the same `created_at + minutes` in the database.
import { durationToMs } from './duration';

export function purgeAtFor(createdAt: string, dataRetention: string | null): string | null {
  return dataRetention === null ? null : new Date(Date.parse(createdAt) + durationToMs(dataRetention)).toISOString();
}

/** The same instant as a Date, for PostgreSQL writes. */
export function purgeDateFor(createdAt: Date, dataRetention: string | null): Date | null {
  const at = purgeAtFor(createdAt.toISOString(), dataRetention);
  return at === null ? null : new Date(at);
}
