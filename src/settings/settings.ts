import type { Db } from '../db/knex';
import { generateWebhookSecret } from '../domain/webhookSignature';
import type { MasterKeys } from '../payloads/keyStore';

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

// Signing secrets are stored sealed under the master key (AES-256-GCM, bound to the row's id):
// a database dump or backup holds no usable secret. Master-key rotation re-seals them
// (rewrapWebhookSecrets, `admin rewrap-data-keys`).
interface WebhookSecretRow {
  id: string;
  secret_ciphertext: Buffer;
  master_key_id: string;
}
const secretAad = (id: string) => `webhook-secret:${id}`;

export function sealWebhookSecret(master: MasterKeys, id: string, secret: string): { secret_ciphertext: Buffer; master_key_id: string } {
  const { sealed, masterKeyId } = master.seal(secretAad(id), Buffer.from(secret, 'utf8'));
  return { secret_ciphertext: sealed, master_key_id: masterKeyId };
}

export function openWebhookSecret(master: MasterKeys, row: WebhookSecretRow): string {
  return master.open(`webhook secret ${row.id}`, secretAad(row.id), row.secret_ciphertext, row.master_key_id).toString('utf8');
}

/** Secrets that sign right now: the current one first, then any still inside its overlap. */
export async function activeWebhookSecrets(db: Db, master: MasterKeys, organizationId: string, now = new Date()): Promise<string[]> {
  // Read only: it also serves the reveal route (a GET). Expired ones are deleted by
  // deleteExpiredWebhookSecrets (rotation, delivery attempts), never here.
  const rows: WebhookSecretRow[] = await db('webhook_secrets')
    .where({ organization_id: organizationId })
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
    .orderBy('created_at', 'desc')
    .select('id', 'secret_ciphertext', 'master_key_id');
  return rows.map((r) => openWebhookSecret(master, r));
}

export async function currentWebhookSecret(db: Db, master: MasterKeys, organizationId: string): Promise<string> {
  const [secret] = await activeWebhookSecrets(db, master, organizationId);
  if (!secret) throw new Error(`organization ${organizationId} has no webhook secret`);
  return secret;
}

export async function insertWebhookSecret(
  db: Db,
  master: MasterKeys,
  row: { id: string; organizationId: string; createdAt?: Date },
): Promise<string> {
  const secret = generateWebhookSecret();
  await db('webhook_secrets').insert({
    id: row.id,
    organization_id: row.organizationId,
    ...sealWebhookSecret(master, row.id, secret),
    ...(row.createdAt ? { created_at: row.createdAt } : {}),
  });
  return secret;
}

/**
 * Re-seals secrets not under the current master key (master-key rotation). Idempotent;
 * `organizationIds` limits it (tests share a database). Returns how many were re-sealed.
 */
export async function rewrapWebhookSecrets(db: Db, master: MasterKeys, options: { organizationIds?: string[] } = {}): Promise<number> {
  const query = db('webhook_secrets').whereNot({ master_key_id: master.current.id });
  if (options.organizationIds) query.whereIn('organization_id', options.organizationIds);
  const rows: WebhookSecretRow[] = await query.select('id', 'secret_ciphertext', 'master_key_id');
  let count = 0;
  for (const row of rows) {
    const sealed = sealWebhookSecret(master, row.id, openWebhookSecret(master, row));
    count += await db('webhook_secrets').where({ id: row.id, master_key_id: row.master_key_id }).update(sealed);
  }
  return count;
}
