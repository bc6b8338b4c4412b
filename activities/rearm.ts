import type { Client } from '@temporalio/client';
import type { Db } from '../src/db/knex';
import { rearmPage, type RearmPage } from '../src/settings/retention';
import type { RearmCursor, RearmKind } from '../workflows/definitions';

export interface RearmPageInput {
  organizationId: string;
  revision: number;
  kind: RearmKind;
  after: RearmCursor | null;
  limit: number;
  concurrency: number;
}

// The retention re-arm's only activity (workflows/retentionRearm.ts). Idempotent: a retry
// re-sends the page's signals, which the workflows ignore (same revision).
export function createRearmActivities({ db, temporal }: { db: Db; temporal: Client }) {
  return {
    async rearmRetentionPage(input: RearmPageInput): Promise<RearmPage> {
      return rearmPage({ db, temporal }, input);
    },
  };
}
