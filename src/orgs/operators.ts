import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { page } from '../api/pagination';
import { problems } from '../api/problem';
import { appendAuditEvent } from '../audit/ledger';
import type { AuditOrigin } from '../audit/origin';
import type { Db } from '../db/knex';
import { durationToMs } from '../domain/duration';
import { hashToken, newToken } from './credentials';
import type { OperatorRole } from './organizations';

// Back-office users of an organization (SPEC §3). Each has one bearer token, shown once and
// stored as a hash. Every change appends its ledger event in the same transaction, so the
// change and its record commit or roll back together.

/** The columns read back: never token_hash. */
interface OperatorRow {
  id: string;
  organization_id: string;
  email: string;
  role: OperatorRole;
  created_at: Date;
  disabled_at: Date | null;
}

export interface OperatorView {
  id: string;
  email: string;
  role: OperatorRole;
  disabled: boolean;
  disabledAt: string | null;
  createdAt: string;
}

const view = (row: OperatorRow): OperatorView => ({
  id: row.id,
  email: row.email,
  role: row.role,
  disabled: row.disabled_at !== null,
  disabledAt: row.disabled_at?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
});

/** What the ledger records about an operator: never the token or its hash. */
const recorded = (row: Pick<OperatorRow, 'email' | 'role' | 'disabled_at'>) => ({
  email: row.email,
  role: row.role,
  disabled: row.disabled_at !== null,
});

const PUBLIC_COLUMNS = ['id', 'organization_id', 'email', 'role', 'created_at', 'disabled_at'] as const;

/** How long a newly issued operator token lives (OPERATOR_TOKEN_TTL); undefined: no expiry. */
export interface TokenPolicy {
  tokenTtl?: string;
}

/** A fresh token and what to store: its hash and its expiry. */
function issueToken(policy: TokenPolicy, now = new Date()) {
  const token = newToken('operator');
  const expiresAt = policy.tokenTtl ? new Date(now.getTime() + durationToMs(policy.tokenTtl)) : null;
  return { token, expiresAt, columns: { token_hash: hashToken(token), token_expires_at: expiresAt } };
}

/**
 * Serializes operator changes within one organization (the uniqueness check of an email, the
 * "one active admin remains" rule). FOR NO KEY UPDATE: rows elsewhere that reference the
 * organization can still be inserted meanwhile.
 */
async function lockOrganization(trx: Knex.Transaction, organizationId: string): Promise<void> {
  await trx('organizations').where({ id: organizationId }).forNoKeyUpdate().first('id');
}

export async function createOperator(
  db: Db,
  hmacKey: string,
  origin: AuditOrigin,
  input: { email: string; role: OperatorRole },
  policy: TokenPolicy = {},
): Promise<{ id: string; email: string; role: OperatorRole; token: string; tokenExpiresAt: string | null; createdAt: string }> {
  const issued = issueToken(policy);
  const { token } = issued;
  const row = await db.transaction(async (trx) => {
    await lockOrganization(trx, origin.organizationId);
    const taken = await trx('operators')
      .where({ organization_id: origin.organizationId })
      .whereRaw('lower(email) = lower(?)', [input.email])
      .first('id');
    if (taken) throw problems.conflict('an operator with this email already exists in this organization');
    const [inserted]: OperatorRow[] = await trx('operators')
      .insert({
        id: randomUUID(),
        organization_id: origin.organizationId,
        email: input.email,
        role: input.role,
        ...issued.columns,
      })
      .returning([...PUBLIC_COLUMNS]);
    await appendAuditEvent(trx, hmacKey, {
      ...origin,
      action: 'operator.create',
      category: 'creation',
      resource: { type: 'operator', id: inserted.id },
      changes: { before: null, after: recorded(inserted) },
    });
    return inserted;
  });
  return { id: row.id, email: row.email, role: row.role, token, tokenExpiresAt: issued.expiresAt?.toISOString() ?? null, createdAt: row.created_at.toISOString() };
}

export async function listOperators(db: Db, organizationId: string, q: { limit: number; cursor?: string }) {
  const query = db<OperatorRow>('operators').where({ organization_id: organizationId }).select([...PUBLIC_COLUMNS]);
  const { rows, nextCursor } = await page<OperatorRow>(query, { ...q, table: 'operators' });
  return { data: rows.map(view), nextCursor };
}

export async function getOperator(db: Db, organizationId: string, id: string): Promise<OperatorView> {
  const row = await db<OperatorRow>('operators').where({ organization_id: organizationId, id }).first(...PUBLIC_COLUMNS);
  if (!row) throw problems.notFound('operator');
  return view(row);
}

/**
 * Changes an operator's role and/or disables (or re-enables) them. A disabled operator's token
 * stops working with the next request: authentication reads `disabled_at` every time.
 * Refused with 409 when it would leave the organization without an active admin. A patch
 * that changes nothing appends no event.
 */
export async function updateOperator(
  db: Db,
  hmacKey: string,
  origin: AuditOrigin,
  id: string,
  patch: { role?: OperatorRole; disabled?: boolean },
  policy: TokenPolicy = {},
): Promise<OperatorView & { token?: string; tokenExpiresAt?: string | null }> {
  return db.transaction(async (trx) => {
    await lockOrganization(trx, origin.organizationId);
    const before = await trx<OperatorRow>('operators')
      .where({ organization_id: origin.organizationId, id })
      .first(...PUBLIC_COLUMNS);
    if (!before) throw problems.notFound('operator');

    const role = patch.role ?? before.role;
    const disabledAt = patch.disabled === undefined ? before.disabled_at : patch.disabled ? (before.disabled_at ?? new Date()) : null;
    if (role === before.role && (disabledAt === null) === (before.disabled_at === null)) return view(before);

    const wasActiveAdmin = before.role === 'admin' && before.disabled_at === null;
    const staysActiveAdmin = role === 'admin' && disabledAt === null;
    if (wasActiveAdmin && !staysActiveAdmin) {
      const [{ count }] = await trx('operators')
        .where({ organization_id: origin.organizationId, role: 'admin' })
        .whereNull('disabled_at')
        .whereNot({ id })
        .count<{ count: string }[]>({ count: '*' });
      if (Number(count) === 0) {
        const self = origin.actor.type === 'operator' && origin.actor.id === id;
        throw problems.conflict(
          `${self ? 'you are' : 'this operator is'} the last active admin of the organization: make another operator admin first`,
        );
      }
    }

    // Re-enabling issues a new token: the one held before the disable (perhaps the reason
    // for it) never works again.
    const reissued = before.disabled_at !== null && disabledAt === null ? issueToken(policy) : null;
    const [after] = await trx<OperatorRow>('operators')
      .where({ organization_id: origin.organizationId, id })
      .update({ role, disabled_at: disabledAt, ...(reissued?.columns ?? {}) })
      .returning([...PUBLIC_COLUMNS]);
    await appendAuditEvent(trx, hmacKey, {
      ...origin,
      action: 'operator.update',
      category: 'modification',
      resource: { type: 'operator', id },
      changes: { before: recorded(before), after: recorded(after), ...(reissued ? { tokenReissued: true } : {}) },
    });
    return reissued
      ? { ...view(after), token: reissued.token, tokenExpiresAt: reissued.expiresAt?.toISOString() ?? null }
      : view(after);
  });
}

/**
 * Replaces an operator's token (the old one stops working at once) and returns the new one,
 * shown once. A disabled operator gets none: re-enabling issues one.
 */
export async function rotateOperatorToken(
  db: Db,
  hmacKey: string,
  origin: AuditOrigin,
  id: string,
  policy: TokenPolicy = {},
): Promise<{ id: string; token: string; tokenExpiresAt: string | null }> {
  return db.transaction(async (trx) => {
    const before = await trx<OperatorRow>('operators').where({ organization_id: origin.organizationId, id }).forUpdate().first(...PUBLIC_COLUMNS);
    if (!before) throw problems.notFound('operator');
    if (before.disabled_at) throw problems.conflict('this operator is disabled: re-enable them to issue a new token');
    const issued = issueToken(policy);
    await trx('operators').where({ organization_id: origin.organizationId, id }).update(issued.columns);
    await appendAuditEvent(trx, hmacKey, {
      ...origin,
      action: 'operator.rotate_token',
      category: 'modification',
      resource: { type: 'operator', id },
      changes: { tokenExpiresAt: issued.expiresAt?.toISOString() ?? null },
    });
    return { id, token: issued.token, tokenExpiresAt: issued.expiresAt?.toISOString() ?? null };
  });
}
