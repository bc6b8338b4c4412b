import { randomUUID } from 'node:crypto';
import { page } from '../api/pagination';
import { problems } from '../api/problem';
import { appendAuditEvent, maskSecret } from '../audit/ledger';
import type { AuditOrigin } from '../audit/origin';
import type { Db } from '../db/knex';
import { hashToken, newToken } from './credentials';

// Server-to-server credentials (SPEC §3): shown once, stored as a SHA-256 hash, revoked rather
// than deleted so the ledger's references to a key keep resolving. Creation and revocation
// append their ledger event in the same transaction.

/** The columns read back: never token_hash. */
interface ApiKeyRow {
  id: string;
  organization_id: string;
  label: string;
  created_at: Date;
  revoked_at: Date | null;
}

export interface ApiKeyView {
  id: string;
  label: string;
  revoked: boolean;
  revokedAt: string | null;
  createdAt: string;
}

const view = (row: ApiKeyRow): ApiKeyView => ({
  id: row.id,
  label: row.label,
  revoked: row.revoked_at !== null,
  revokedAt: row.revoked_at?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
});

const PUBLIC_COLUMNS = ['id', 'organization_id', 'label', 'created_at', 'revoked_at'] as const;

export async function createApiKey(
  db: Db,
  hmacKey: string,
  origin: AuditOrigin,
  input: { label: string },
): Promise<{ id: string; label: string; key: string; createdAt: string }> {
  const key = newToken('api_key');
  const row = await db.transaction(async (trx) => {
    const [inserted]: ApiKeyRow[] = await trx('api_keys')
      .insert({ id: randomUUID(), organization_id: origin.organizationId, label: input.label, token_hash: hashToken(key) })
      .returning([...PUBLIC_COLUMNS]);
    await appendAuditEvent(trx, hmacKey, {
      ...origin,
      action: 'api_key.create',
      category: 'creation',
      resource: { type: 'api_key', id: inserted.id },
      // A masked prefix lets a leaked key be matched to this event; the key itself never is recorded.
      changes: { before: null, after: { label: inserted.label, key: maskSecret(key), revoked: false } },
    });
    return inserted;
  });
  return { id: row.id, label: row.label, key, createdAt: row.created_at.toISOString() };
}

export async function listApiKeys(db: Db, organizationId: string, q: { limit: number; cursor?: string }) {
  const query = db<ApiKeyRow>('api_keys').where({ organization_id: organizationId }).select([...PUBLIC_COLUMNS]);
  const { rows, nextCursor } = await page<ApiKeyRow>(query, { ...q, table: 'api_keys' });
  return { data: rows.map(view), nextCursor };
}

/**
 * Revokes a key: it stops authenticating with the next request (authentication reads
 * `revoked_at` every time). Revoking an already revoked key changes nothing and appends nothing.
 */
export async function revokeApiKey(db: Db, hmacKey: string, origin: AuditOrigin, id: string): Promise<ApiKeyView> {
  return db.transaction(async (trx) => {
    const before = await trx<ApiKeyRow>('api_keys')
      .where({ organization_id: origin.organizationId, id })
      .forUpdate()
      .first(...PUBLIC_COLUMNS);
    if (!before) throw problems.notFound('API key');
    if (before.revoked_at) return view(before);
    const [after] = await trx<ApiKeyRow>('api_keys')
      .where({ organization_id: origin.organizationId, id })
      .update({ revoked_at: trx.fn.now() })
      .returning([...PUBLIC_COLUMNS]);
    await appendAuditEvent(trx, hmacKey, {
      ...origin,
      action: 'api_key.revoke',
      category: 'deletion',
      resource: { type: 'api_key', id },
      changes: { before: { label: before.label, revoked: false }, after: { label: after.label, revoked: true } },
    });
    return view(after);
  });
}
