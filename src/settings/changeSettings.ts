import { ServiceError, type Client } from '@temporalio/client';
import { problems } from '../api/problem';
import { appendAuditEvent, type AuditActor, type AuditContext } from '../audit/ledger';
import type { Db } from '../db/knex';
import { reschedulePurges, startRetentionRearm } from './retention';
import { getSettings, updateSettings, type OrganizationSettings } from './settings';

export interface SettingsChangeDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  auditKey: string;
}

export interface SettingsChangeResult {
  settings: OrganizationSettings;
  changed: (keyof OrganizationSettings)[];
  /** Present when dataRetention changed: the workflow that re-arms the organization's timers. */
  rearm: { revision: number; workflowId: string; sessions: number; analyses: number } | null;
}

/**
 * PATCH /v1/settings after validation, in one transaction: the new values, the purge dates of
 * the organization's records when dataRetention changed (and the start of the re-arm of their
 * workflows), and one ledger event with the before/after of each field that changed. A patch
 * that changes nothing writes nothing.
 */
export async function changeSettings(
  deps: SettingsChangeDeps,
  who: { organizationId: string; actor: AuditActor } & AuditContext,
  patch: Partial<OrganizationSettings>,
): Promise<SettingsChangeResult> {
  return deps.db.transaction(async (trx) => {
    // Locked first, so the comparison below holds until the commit.
    await trx('settings').where({ organization_id: who.organizationId }).forUpdate().first('organization_id');
    const current = await getSettings(trx, who.organizationId);
    const fields = (Object.keys(patch) as (keyof OrganizationSettings)[]).filter(
      (field) => patch[field] !== undefined && patch[field] !== current[field],
    );
    if (fields.length === 0) return { settings: current, changed: [], rearm: null };
    const effective = Object.fromEntries(fields.map((field) => [field, patch[field]])) as Partial<OrganizationSettings>;
    const { before, after, retentionRevision } = await updateSettings(trx, who.organizationId, effective);
    const changed = fields.filter((field) => before[field] !== after[field]);

    let rearm: SettingsChangeResult['rearm'] = null;
    if (changed.includes('dataRetention')) {
      // Row locks before the ledger's head lock: the same order as the purge activities.
      const counts = await reschedulePurges(trx, who.organizationId, after.dataRetention);
      // Started before the commit: if Temporal cannot take it, nothing is changed.
      const { workflowId } = await startRetentionRearm(deps.temporal, deps.taskQueue, {
        organizationId: who.organizationId,
        revision: retentionRevision,
      }).catch((err: unknown) => {
        if (err instanceof ServiceError) throw problems.unavailable('Temporal is unreachable, so dataRetention cannot be changed now; nothing was saved');
        throw err;
      });
      rearm = { revision: retentionRevision, workflowId, ...counts };
    }

    await appendAuditEvent(trx, deps.auditKey, {
      organizationId: who.organizationId,
      actor: who.actor,
      action: 'settings.update',
      category: 'modification',
      resource: { type: 'settings', id: who.organizationId },
      changes: Object.fromEntries(changed.map((field) => [field, { before: before[field], after: after[field] }])),
      requestId: who.requestId,
      ip: who.ip,
      userAgent: who.userAgent,
    });
    return { settings: after, changed, rearm };
  });
}
