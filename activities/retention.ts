import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../src/db/knex';
import { PurgeTargetMissing, purgeSessionRecord, purgeStandaloneAnalysisRecord, type PurgeRequest } from '../src/purge/purge';
import type { DataKeyStore } from '../src/payloads/keyStore';
import { analysisScope, sessionScope } from '../src/payloads/scopes';

export type { PurgeRequest };

/** A missing record is a non-retryable failure: an orphan workflow must not retry forever. */
async function orMissing<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof PurgeTargetMissing) throw ApplicationFailure.nonRetryable(err.message, 'NotFound');
    throw err;
  }
}

// The workflows' purge activities: thin wrappers of the one purge module (src/purge/purge.ts),
// which erasure and the reconciler call too. The process's key cache forgets a destroyed key;
// the worker's codec keeps it a while in memory for the purged workflow's last replays.
export function createRetentionActivities({ db, config, keys }: { db: Db; config: { AUDIT_HMAC_KEY: string }; keys?: DataKeyStore }) {
  return {
    async purgeSession(input: PurgeRequest & { sessionId: string }): Promise<{ purgedAt: string }> {
      await keys?.holdForLastReplays(sessionScope(input.sessionId));
      const purged = await orMissing(() => purgeSessionRecord(db, config.AUDIT_HMAC_KEY, input));
      keys?.forget(sessionScope(input.sessionId));
      return purged;
    },

    async purgeStandaloneAnalysis(input: PurgeRequest & { analysisId: string }): Promise<{ purgedAt: string }> {
      await keys?.holdForLastReplays(analysisScope(input.analysisId));
      const purged = await orMissing(() => purgeStandaloneAnalysisRecord(db, config.AUDIT_HMAC_KEY, input));
      keys?.forget(analysisScope(input.analysisId));
      return purged;
    },

    async recordPurgeAt(input: ({ sessionId: string } | { analysisId: string }) & { purgeAt: string | null }): Promise<void> {
      const purgeAt = input.purgeAt ? new Date(input.purgeAt) : null;
      if ('sessionId' in input) await db('sessions').where({ id: input.sessionId }).update({ purge_at: purgeAt });
      else await db('analyses').where({ id: input.analysisId }).update({ purge_at: purgeAt });
    },
  };
}
