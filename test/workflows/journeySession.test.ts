import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Db } from '../../src/db/knex';
import { createSession, addSessionAnalysis, completeJourney, SessionDeps } from '../../src/sessions/sessions';
import { completeJourneyUpdate, sessionWorkflowId, stateQuery, JourneySessionState } from '../../workflows/definitions';
import { newOrganization, waitUntil } from '../support/system';
import { updateSettings } from '../../src/settings/settings';
import { startTimeSkippingSystem, type TimeSkippingSystem } from '../support/timeSkipping';
import { whatScheduled } from '../support/history';
import { HttpProblem } from '../../src/api/problem';

// Long timers on the time-skipping test server, with the real activities and PostgreSQL:
// a day passes in milliseconds and the records show what a user would see.
const DAY_MS = 24 * 60 * 60 * 1000;
let sys: TimeSkippingSystem;
let env: TestWorkflowEnvironment;
let db: Db;
let deps: SessionDeps;
let org: Awaited<ReturnType<typeof newOrganization>>;
let organizationId: string;

beforeAll(async () => {
  sys = await startTimeSkippingSystem();
  ({ env, db } = sys);
  deps = { db, temporal: env.client, taskQueue: sys.config.TEMPORAL_TASK_QUEUE, publicBaseUrl: 'http://kyc.test', auditKey: sys.config.AUDIT_HMAC_KEY };
  org = await newOrganization(db);
  organizationId = org.organizationId;
});

afterAll(async () => {
  await sys?.stop();
});

async function startSession(body: { linkExpiry?: string } = {}) {
  const now = new Date(await env.currentTimeMs());
  const session = await createSession(deps, org.asApiKey, body, now);
  return { session, handle: env.client.workflow.getHandle<() => Promise<JourneySessionState>>(sessionWorkflowId(session.id)) };
}

const tokenOf = (url: string) => url.split('/').pop()!;

test.each([
  ['the default of one day', undefined, DAY_MS],
  ['an overridden 2h30m', '2h30m', 150 * 60 * 1000],
])('a session never completed expires at exactly its expiry: %s', async (_label, linkExpiry, expectedMs) => {
  const { session, handle } = await startSession(linkExpiry ? { linkExpiry } : {});
  expect(Date.parse(session.link.expiresAt) - Date.parse(session.createdAt)).toBe(expectedMs);

  // Checked well before the deadline: the test server's clock also runs at real speed while
  // the test reads. Exactness comes from the history: the timer was armed for expiresAt.
  const margin = 10 * 60 * 1000;
  await env.sleep(expectedMs - margin);
  expect((await handle.query(stateQuery)).status).toBe('created');
  expect((await db('sessions').where({ id: session.id }).first()).status).toBe('created');

  await env.sleep(margin + 1000);
  const final = await waitUntil(() => handle.query(stateQuery), (s) => s.status === 'expired');
  expect(await whatScheduled(env.client, handle.workflowId, 'expireSession')).toEqual({ by: 'timer', armedForMs: Date.parse(session.link.expiresAt) });
  expect(final.expiredAt).toBe(session.link.expiresAt);
  const row = await db('sessions').where({ id: session.id }).first();
  expect(row.status).toBe('expired');
  expect(row.expired_at.toISOString()).toBe(session.link.expiresAt);
  const sa = (await handle.describe()).searchAttributes as Record<string, unknown[]>;
  expect(sa.SessionStatus).toEqual(['expired']);
  // Recorded in the ledger as a system action, once.
  const events = await db('audit_events').where({ resource_id: session.id, action: 'session.expire' });
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ actor_type: 'system', actor_id: 'link-expiry', category: 'modification' });
});

test('a completed session never expires', async () => {
  const { session, handle } = await startSession();
  await env.sleep(DAY_MS / 2);
  const outcome = await handle.executeUpdate(completeJourneyUpdate);
  expect(outcome.verdict).toBe('verify');
  await env.sleep(3 * DAY_MS);
  const final = await handle.query(stateQuery);
  expect(final).toMatchObject({ status: 'completed', expiredAt: null });
  const row = await db('sessions').where({ id: session.id }).first();
  expect(row).toMatchObject({ status: 'completed', expired_at: null });
});

test('completion after expiry is refused with 410 and changes nothing', async () => {
  const { session, handle } = await startSession({ linkExpiry: '10m' });
  await env.sleep(10 * 60 * 1000 + 1000);
  expect((await handle.query(stateQuery)).status).toBe('expired');
  const refused = await completeJourney(deps, tokenOf(session.link.url)).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(HttpProblem);
  expect((refused as HttpProblem).status).toBe(410);
  const row = await db('sessions').where({ id: session.id }).first();
  expect(row).toMatchObject({ status: 'expired', verdict: null, completed_at: null });
});

// Every multiset of 0 to 3 analyses over the three AI statuses.
const AI = ['ai_approved', 'ai_rejected', 'verify'] as const;
const mixes: (typeof AI)[number][][] = [[]];
for (let size = 1; size <= 3; size++) {
  const grow = (prefix: (typeof AI)[number][], from: number): void => {
    if (prefix.length === size) return void mixes.push(prefix);
    for (let i = from; i < AI.length; i++) grow([...prefix, AI[i]], i);
  };
  grow([], 0);
}
const expectedVerdict = (mix: string[]) =>
  mix.includes('ai_rejected') ? 'ai_rejected' : mix.includes('verify') || mix.length === 0 ? 'verify' : 'ai_approved';

test(`the consolidated verdict follows the rule for all ${mixes.length} mixes of analyses`, async () => {
  expect(mixes).toHaveLength(20);
  for (const mix of mixes) {
    const { session, handle } = await startSession();
    for (const status of mix) await addSessionAnalysis(db, organizationId, session.id, { kind: 'check', status });
    const { verdict } = await handle.executeUpdate(completeJourneyUpdate);
    const row = await db('sessions').where({ id: session.id }).first();
    expect({ mix, verdict, stored: row.verdict }).toEqual({ mix, verdict: expectedVerdict(mix), stored: expectedVerdict(mix) });
  }
});

test('a link expiry and a purge due at the same instant: the expiry is recorded before the purge', async () => {
  // Retention equal to the link lifetime: both deadlines fall in the same workflow task, as
  // after a worker restart that found both past (fault suite, worker-kill).
  const sameOrg = await newOrganization(db);
  await updateSettings(db, sameOrg.organizationId, { dataRetention: '2h' });
  const now = new Date(await env.currentTimeMs());
  const session = await createSession(deps, sameOrg.asApiKey, { linkExpiry: '2h' }, now);
  const handle = env.client.workflow.getHandle(sessionWorkflowId(session.id));
  await env.sleep(2 * 60 * 60 * 1000 + 1000);
  await waitUntil(() => handle.describe(), (d) => d.status.name === 'COMPLETED', 120_000);

  const events = await db('audit_events')
    .where({ resource_id: session.id })
    .whereIn('action', ['session.expire', 'session.purge'])
    .orderBy('seq');
  expect(events.map((e: { action: string }) => e.action)).toEqual(['session.expire', 'session.purge']);
  const row = await db('sessions').where({ id: session.id }).first();
  expect(row.status).toBe('purged');
  expect(row.expired_at?.toISOString()).toBe(session.link.expiresAt);
});
