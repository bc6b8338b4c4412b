import type { Knex } from 'knex';
import { problems } from './problem';

// Keyset pagination over (created_at desc, id desc): stable under inserts, O(limit) per page.
interface CursorPosition {
  createdAt: string;
  id: string;
}

export function encodeCursor(row: { created_at: Date; id: string }): string {
  return Buffer.from(JSON.stringify({ createdAt: row.created_at.toISOString(), id: row.id })).toString('base64url');
}

function decodeCursor(cursor: string): CursorPosition {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof value.createdAt === 'string' && typeof value.id === 'string' && !Number.isNaN(Date.parse(value.createdAt))) {
      return value;
    }
  } catch {
    // fall through
  }
  throw problems.validation([{ path: 'query.cursor', message: 'is not a cursor returned by this API' }]);
}

export async function page<T extends { created_at: Date; id: string }>(
  query: Knex.QueryBuilder,
  opts: { limit: number; cursor?: string; table: string },
): Promise<{ rows: T[]; nextCursor: string | null }> {
  if (opts.cursor) {
    const pos = decodeCursor(opts.cursor);
    query.whereRaw(`(${opts.table}.created_at, ${opts.table}.id) < (?::timestamptz, ?::uuid)`, [pos.createdAt, pos.id]);
  }
  const rows: T[] = await query.orderBy([
    { column: `${opts.table}.created_at`, order: 'desc' },
    { column: `${opts.table}.id`, order: 'desc' },
  ]).limit(opts.limit + 1);
  const more = rows.length > opts.limit;
  const data = more ? rows.slice(0, opts.limit) : rows;
  return { rows: data, nextCursor: more ? encodeCursor(data[data.length - 1]) : null };
}
