import type { Client } from '@temporalio/client';
import { log } from '../log';
import { startDeadline } from '../temporal/deadlines';
import { retentionRearmWorkflowId } from '../../workflows/definitions';
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
  rearm: { revision: number; workflowId: string; started: boolean; sessions: number; analyses: number } | null;
}

/**
 * PATCH /v1/settings after validation. One short transaction holds the new values, the purge
 * dates of the organization's records when dataRetention changed, and one ledger event with
 * the before/after of each field that changed; no call to Temporal happens inside it. A patch
 * that changes nothing writes nothing.
 *
 * A change of dataRetention needs Temporal to re-arm the workflows' timers: Temporal is asked
 * first (unreachable: 503, nothing saved), and the re-arm workflow is started after the commit.
 * Should that start fail all the same, the change stays saved and the reconciler re-arms every
 * workflow whose purge time disagrees with its record (docs/reliability.md).
 */
export async function changeSettings(
  deps: SettingsChangeDeps,
  who: { organizationId: string; actor: AuditActor } & AuditContext,
  patch: Partial<OrganizationSettings>,
): Promise<SettingsChangeResult> {
  if (patch.dataRetention !== undefined && patch.dataRetention !== (await getSettings(deps.db, who.organizationId)).dataRetention) {
    await temporalReachable(deps.temporal).catch(() => {
      throw problems.unavailable('Temporal is unreachable, so dataRetention cannot be changed now; nothing was saved');
    });
  }
  const result = await deps.db.transaction(async (trx) => {
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
      rearm = { revision: retentionRevision, workflowId: retentionRearmWorkflowId(who.organizationId, retentionRevision), started: false, ...counts };
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

  if (result.rearm) {
    try {
      await startRetentionRearm(deps.temporal, deps.taskQueue, { organizationId: who.organizationId, revision: result.rearm.revision });
      result.rearm.started = true;
    } catch (err) {
      log.warn('retention re-arm not started; the reconciler re-arms', {
        organizationId: who.organizationId,
        revision: result.rearm.revision,
        error: (err as Error).message,
      });
    }
  }
  return result;
}

/** A cheap round trip, bounded: is Temporal there to take a start right now? */
async function temporalReachable(temporal: Client): Promise<void> {
  await temporal.withDeadline(startDeadline(temporal), () => temporal.workflowService.getSystemInfo({}));
}
