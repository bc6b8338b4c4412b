import type { Db } from '../db/knex';
import { generateWebhookSecret } from '../domain/webhookSignature';

export interface OrganizationSettings {
  sessionEndWebhookUrl: string | null;
  decisionWebhookUrl: string | null;
  dataRetention: string | null;
  sessionLinkExpiry: string;
}

export const DEFAULT_SESSION_LINK_EXPIRY = '1d';
/** How long a rotated-out secret keeps signing beside the new one. */
export const SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

interface SettingsRow {
  organization_id: string;
  session_end_webhook_url: string | null;
  decision_webhook_url: string | null;
  data_retention: string | null;
  session_link_expiry: string;
  /** Bumped by each change of data_retention: orders the re-arm signals (docs/settings.md). */
  retention_revision: string | number;
}

const toSettings = (row: SettingsRow): OrganizationSettings => ({
  sessionEndWebhookUrl: row.session_end_webhook_url,
  decisionWebhookUrl: row.decision_webhook_url,
  dataRetention: row.data_retention,
  sessionLinkExpiry: row.session_link_expiry,
});

export async function getSettings(db: Db, organizationId: string): Promise<OrganizationSettings> {
  const row = await db<SettingsRow>('settings').where({ organization_id: organizationId }).first();
  if (!row) throw new Error(`organization ${organizationId} has no settings row`);
  return toSettings(row);
}

/**
 * Applies a validated patch; inside the caller's transaction when given one, so the change,
 * its ledger event and the retention re-arm commit together. A change of dataRetention bumps
 * the retention revision.
 */
export async function updateSettings(
  db: Db,
  organizationId: string,
  patch: Partial<OrganizationSettings>,
): Promise<{ before: OrganizationSettings; after: OrganizationSettings; retentionRevision: number }> {
  const run = async (trx: Db) => {
    const row = await trx<SettingsRow>('settings').where({ organization_id: organizationId }).forUpdate().first();
    if (!row) throw new Error(`organization ${organizationId} has no settings row`);
    const before = toSettings(row);
    const columns: Record<string, unknown> = {};
    if (patch.sessionEndWebhookUrl !== undefined) columns.session_end_webhook_url = patch.sessionEndWebhookUrl;
    if (patch.decisionWebhookUrl !== undefined) columns.decision_webhook_url = patch.decisionWebhookUrl;
    if (patch.dataRetention !== undefined) columns.data_retention = patch.dataRetention;
    if (patch.sessionLinkExpiry !== undefined) columns.session_link_expiry = patch.sessionLinkExpiry;
    if (patch.dataRetention !== undefined && patch.dataRetention !== before.dataRetention) {
      columns.retention_revision = trx.raw('retention_revision + 1');
    }
    const [updated] = await trx('settings')
      .where({ organization_id: organizationId })
      .update({ ...columns, updated_at: trx.fn.now() })
      .returning('*');
    return { before, after: toSettings(updated), retentionRevision: Number(updated.retention_revision) };
  };
  return db.isTransaction ? run(db) : db.transaction(run);
}

/**
 * The settings a new session or standalone analysis is created with, read under a shared
 * lock inside its creating transaction: a concurrent change of dataRetention (which locks
 * the row for update) waits until the new record is committed, so its re-arm sees it, and a
 * creation after the change reads the new value. Many creations share the lock at once.
 */
export async function settingsForCreation(trx: Db, organizationId: string): Promise<OrganizationSettings & { retentionRevision: number }> {
  const row = await trx<SettingsRow>('settings').where({ organization_id: organizationId }).forShare().first();
  if (!row) throw new Error(`organization ${organizationId} has no settings row`);
  return { ...toSettings(row), retentionRevision: Number(row.retention_revision) };
}

/** Secrets that sign right now: the current one first, then any still inside its overlap. */
export async function activeWebhookSecrets(db: Db, organizationId: string, now = new Date()): Promise<string[]> {
  // Read only: it also serves the reveal route (a GET). Expired ones are deleted by
  // deleteExpiredWebhookSecrets (rotation, delivery attempts), never here.
  const rows = await db('webhook_secrets')
    .where({ organization_id: organizationId })
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
    .orderBy('created_at', 'desc')
    .select('secret');
  return rows.map((r: { secret: string }) => r.secret);
}

export async function currentWebhookSecret(db: Db, organizationId: string): Promise<string> {
  const [secret] = await activeWebhookSecrets(db, organizationId);
  if (!secret) throw new Error(`organization ${organizationId} has no webhook secret`);
  return secret;
}

export async function insertWebhookSecret(db: Db, organizationId: string, id: string): Promise<string> {
  const secret = generateWebhookSecret();
  await db('webhook_secrets').insert({ id, organization_id: organizationId, secret });
  return secret;
}
