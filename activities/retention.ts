import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../src/db/knex';
import { PurgeTargetMissing, purgeSessionRecord, purgeStandaloneAnalysisRecord, type PurgeRequest } from '../src/purge/purge';

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
// which erasure and the reconciler call too.
export function createRetentionActivities({ db, config }: { db: Db; config: { AUDIT_HMAC_KEY: string } }) {
  return {
    async purgeSession(input: PurgeRequest & { sessionId: string }): Promise<{ purgedAt: string }> {
      return orMissing(() => purgeSessionRecord(db, config.AUDIT_HMAC_KEY, input));
    },

    async purgeStandaloneAnalysis(input: PurgeRequest & { analysisId: string }): Promise<{ purgedAt: string }> {
      return orMissing(() => purgeStandaloneAnalysisRecord(db, config.AUDIT_HMAC_KEY, input));
    },

    async recordPurgeAt(input: ({ sessionId: string } | { analysisId: string }) & { purgeAt: string | null }): Promise<void> {
      const purgeAt = input.purgeAt ? new Date(input.purgeAt) : null;
      if ('sessionId' in input) await db('sessions').where({ id: input.sessionId }).update({ purge_at: purgeAt });
      else await db('analyses').where({ id: input.analysisId }).update({ purge_at: purgeAt });
    },
  };
}
