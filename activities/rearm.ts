import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Db } from '../src/db/knex';
import { rearmRecords, type RearmRun } from '../src/settings/retention';
import type { RearmProgress } from '../workflows/definitions';

export interface RearmInput {
  organizationId: string;
  revision: number;
  from: RearmProgress;
  pageSize: number;
  concurrency: number;
  /** Work for about this long, then hand the progress back to the workflow. */
  budgetMs: number;
}

// The retention re-arm's activity (workflows/retentionRearm.ts): pages through the records and
// signals their workflows without a workflow task between pages, so a task queue busy with
// the purges it causes does not slow it down. Each page's progress is heartbeated; a retry
// resumes from the last one and re-sends at most a page of signals, which the workflows ignore
// (same revision).
export function createRearmActivities({ db, temporal }: { db: Db; temporal: Client }) {
  return {
    async rearmRetention(input: RearmInput): Promise<RearmRun> {
      const ctx = Context.current();
      const resumed = ctx.info.heartbeatDetails as RearmProgress | undefined;
      return rearmRecords({ db, temporal }, { ...input, from: resumed ?? input.from, onPage: (progress) => ctx.heartbeat(progress) });
    },
  };
}
