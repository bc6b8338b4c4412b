import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex';
import { appendAuditEvent, maskSecret, type AuditActor, type AuditContext } from '../audit/ledger';
import type { MasterKeys } from '../payloads/keyStore';
import { insertWebhookSecret, openWebhookSecret, SECRET_OVERLAP_MS } from '../settings/settings';

export interface RotatedSecret {
  id: string;
  secret: string;
  createdAt: string;
  /** Until then the previous secret keeps signing beside the new one; null if there was none. */
  previousSecretExpiresAt: string | null;
}

/**
 * Issues a new signing secret. The one it replaces keeps signing (a second signature in the
 * same header) for SECRET_OVERLAP_MS, so receivers can switch without missing an event.
 * Secrets rotated out earlier keep their own expiry. Audited in the same transaction.
 */
export async function rotateWebhookSecret(
  db: Db,
  master: MasterKeys,
  hmacKey: string,
  input: { organizationId: string; actor: AuditActor; context?: AuditContext; now?: Date },
): Promise<RotatedSecret> {
  const now = input.now ?? new Date();
  const previousExpiresAt = new Date(now.getTime() + SECRET_OVERLAP_MS);
  return db.transaction(async (trx) => {
    // The settings row is the organization's lock: two rotations never interleave.
    const locked = await trx('settings').where({ organization_id: input.organizationId }).forUpdate().first('organization_id');
    if (!locked) throw new Error(`organization ${input.organizationId} has no settings row`);
    await deleteExpiredWebhookSecrets(trx, { organizationId: input.organizationId, now });
    const currentRow = await trx('webhook_secrets')
      .where({ organization_id: input.organizationId })
      .whereNull('expires_at')
      .orderBy('created_at', 'desc')
      .first('id', 'secret_ciphertext', 'master_key_id');
    const current = currentRow ? { id: currentRow.id as string, secret: openWebhookSecret(master, currentRow) } : undefined;
    if (current) {
      await trx('webhook_secrets')
        .where({ organization_id: input.organizationId })
        .whereNull('expires_at')
        .update({ expires_at: previousExpiresAt });
    }
    const id = randomUUID();
    const secret = await insertWebhookSecret(trx, master, { id, organizationId: input.organizationId, createdAt: now });
    await appendAuditEvent(trx, hmacKey, {
      organizationId: input.organizationId,
      actor: input.actor,
      action: 'webhook_secret.rotate',
      category: 'modification',
      resource: { type: 'webhook_secret', id },
      changes: {
        before: { secret: maskSecret(current?.secret) },
        after: { secret: maskSecret(secret) },
        previousSecretExpiresAt: current ? previousExpiresAt.toISOString() : null,
      },
      outcome: 'success',
      ...input.context,
    });
    return {
      id,
      secret,
      createdAt: now.toISOString(),
      previousSecretExpiresAt: current ? previousExpiresAt.toISOString() : null,
    };
  });
}

/**
 * Deletes the organization's rotated-out secrets whose overlap has ended: they can no longer
 * sign, so keeping them only leaves a secret in backups. Returns how many went.
 */
export async function deleteExpiredWebhookSecrets(db: Db, input: { organizationId?: string; organizationIds?: string[]; now?: Date }): Promise<number> {
  const now = input.now ?? new Date();
  const query = db('webhook_secrets').whereNotNull('expires_at').andWhere('expires_at', '<=', now);
  // One organization (a rotation, a delivery attempt), some, or all of them (the reconciler).
  if (input.organizationId) query.where({ organization_id: input.organizationId });
  else if (input.organizationIds) query.whereIn('organization_id', input.organizationIds);
  return query.delete();
}

/**
 * Ends the overlap at once: every rotated-out secret of the organization is deleted, so only
 * the current one signs from now on. Audited in the same transaction
 * (POST /v1/settings/webhook-secret/end-grace).
 */
export async function endWebhookSecretGrace(
  db: Db,
  hmacKey: string,
  input: { organizationId: string; actor: AuditActor; context?: AuditContext },
): Promise<{ endedSecrets: number }> {
  return db.transaction(async (trx) => {
    const locked = await trx('settings').where({ organization_id: input.organizationId }).forUpdate().first('organization_id');
    if (!locked) throw new Error(`organization ${input.organizationId} has no settings row`);
    const ended: number = await trx('webhook_secrets')
      .where({ organization_id: input.organizationId })
      .whereNotNull('expires_at')
      .delete();
    await appendAuditEvent(trx, hmacKey, {
      organizationId: input.organizationId,
      actor: input.actor,
      action: 'webhook_secret.end_grace',
      category: 'modification',
      resource: { type: 'webhook_secret', id: input.organizationId },
      changes: { endedSecrets: ended },
      outcome: 'success',
      ...input.context,
    });
    return { endedSecrets: ended };
  });
}
