import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex';
import { insertWebhookSecret } from '../settings/settings';
import type { MasterKeys } from '../payloads/keyStore';
import { hashToken, newToken } from './credentials';

export type OperatorRole = 'admin' | 'analyst' | 'auditor';

export interface Principal {
  organizationId: string;
  actor: { type: 'api_key' | 'operator'; id: string; role: OperatorRole | null; label: string };
}

/** A new customer account with its first admin, an API key, default settings and a signing secret. */
export async function createOrganization(
  db: Db,
  master: MasterKeys,
  input: { name: string; adminEmail: string },
): Promise<{ organizationId: string; apiKey: string; adminToken: string; adminId: string }> {
  const organizationId = randomUUID();
  const apiKey = newToken('api_key');
  const adminToken = newToken('operator');
  const adminId = randomUUID();
  await db.transaction(async (trx) => {
    await trx('organizations').insert({ id: organizationId, name: input.name });
    await trx('settings').insert({ organization_id: organizationId });
    await trx('api_keys').insert({ id: randomUUID(), organization_id: organizationId, label: 'default', token_hash: hashToken(apiKey) });
    await trx('operators').insert({
      id: adminId,
      organization_id: organizationId,
      email: input.adminEmail,
      role: 'admin',
      token_hash: hashToken(adminToken),
    });
    await insertWebhookSecret(trx, master, { id: randomUUID(), organizationId });
  });
  return { organizationId, apiKey, adminToken, adminId };
}

/** Resolves a bearer token to its organization and actor; revoked or disabled ones resolve to nothing. */
export async function authenticate(db: Db, token: string): Promise<Principal | null> {
  const tokenHash = hashToken(token);
  if (token.startsWith('kyc_sk_')) {
    const key = await db('api_keys').where({ token_hash: tokenHash }).whereNull('revoked_at').first();
    if (!key) return null;
    return { organizationId: key.organization_id, actor: { type: 'api_key', id: key.id, role: null, label: key.label } };
  }
  if (token.startsWith('kyc_op_')) {
    const op = await db('operators').where({ token_hash: tokenHash }).whereNull('disabled_at').first();
    if (!op) return null;
    if (op.token_expires_at && new Date(op.token_expires_at).getTime() <= Date.now()) return null;
    return { organizationId: op.organization_id, actor: { type: 'operator', id: op.id, role: op.role, label: op.email } };
  }
  return null;
}
