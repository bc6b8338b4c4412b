import type { Client } from '@temporalio/client';
import type { CreateSessionBody } from '../../src/api/schemas';
import type { Db } from '../../src/db/knex';
import { createSession, type SessionDeps } from '../../src/sessions/sessions';
import { TEST_AUDIT_KEY } from './system';

// Sessions created straight through the domain function (many at once, or back-dated with
// `now`), with the same path as POST /v1/sessions. One place to adapt if its signature changes.
export function sessionDeps(db: Db, temporal: Client, taskQueue: string, publicBaseUrl = 'http://kyc.test'): SessionDeps {
  return { db, temporal, taskQueue, publicBaseUrl, auditKey: TEST_AUDIT_KEY };
}

export function createSessionAt(deps: SessionDeps, organizationId: string, body: CreateSessionBody = {}, now = new Date()) {
  return createSession(deps, { organizationId, actor: { type: 'system', id: 'test' } }, body, now);
}
