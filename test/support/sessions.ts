import type { Client } from '@temporalio/client';
import { HttpProblem } from '../../src/api/problem';
import type { CreateSessionBody } from '../../src/api/schemas';
import type { Db } from '../../src/db/knex';
import { createSession, type SessionDeps } from '../../src/sessions/sessions';
import { TEST_AUDIT_KEY } from './system';

// Sessions created straight through the domain function (many at once, or back-dated with
// `now`), with the same path as POST /v1/sessions. One place to adapt if its signature changes.
export function sessionDeps(db: Db, temporal: Client, taskQueue: string, publicBaseUrl = 'http://kyc.test'): SessionDeps {
  return { db, temporal, taskQueue, publicBaseUrl, auditKey: TEST_AUDIT_KEY };
}

/**
 * Like a careful customer: a 503 (Temporal too slow to accept the start on a loaded machine;
 * nothing was kept) is retried a few times.
 */
export async function createSessionAt(deps: SessionDeps, organizationId: string, body: CreateSessionBody = {}, now = new Date()) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createSession(deps, { organizationId, actor: { type: 'system', id: 'test' } }, body, now);
    } catch (err) {
      if (!(err instanceof HttpProblem && err.status === 503) || attempt >= 5) throw err;
    }
  }
}
