import { randomUUID } from 'node:crypto';
import { createSessionActivities } from '../../activities/sessions';
import { createDecisionActivities } from '../../activities/decisions';
import { HttpProblem } from '../../src/api/problem';
import { purgeSessionRecord } from '../../src/purge/purge';
import { addSessionAnalysis, uploadDocument, type SessionDeps } from '../../src/sessions/sessions';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { newOrganization, startSystem, TestSystem } from '../support/system';

// Writes that race the workflow's, run head to head many times against the real PostgreSQL:
// an upload against the purge, an analysis against the completion, and a stale attempt of
// `recordDecision` against its retry. The invariants are what a compliance user checks.
const ROUNDS = 25;
let sys: TestSystem;
let deps: SessionDeps;

beforeAll(async () => {
  sys = await startSystem();
  deps = sessionDeps(sys.db, sys.client, sys.config.TEMPORAL_TASK_QUEUE);
});
afterAll(async () => {
  await sys?.stop();
});

const limits = { maxDocumentBytes: 1 << 20, maxDocumentsPerSession: 100, maxSessionBytes: 1 << 24 };
const settle = <T>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

test(`an upload racing the purge never survives it (${ROUNDS} rounds)`, async () => {
  const org = await newOrganization(sys.db);
  let refused = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const s = await createSessionAt(deps, org.organizationId, { userInput: { lastName: 'Franklin' } });
    const token = s.link.url.split('/').pop()!;
    const [upload] = await Promise.all([
      settle(uploadDocument({ ...deps, ...limits }, token, { type: 'passport', fileName: 'p.jpg', contentType: 'image/jpeg', contentBase64: Buffer.from(`doc-${i}`).toString('base64') })),
      settle(purgeSessionRecord(sys.db, sys.config.AUDIT_HMAC_KEY, { sessionId: s.id, organizationId: org.organizationId, actor: { type: 'system', id: 'test' }, context: {} })),
    ]);
    if (!upload.ok) {
      expect(upload.error).toBeInstanceOf(HttpProblem);
      expect((upload.error as HttpProblem).status).toBe(410);
      refused++;
    }
    // Whatever the order, nothing of the document is left.
    const left = await sys.db('documents').where({ session_id: s.id }).whereNotNull('content');
    expect(left).toHaveLength(0);
  }
  process.stdout.write(`${JSON.stringify({ test: 'upload vs purge', rounds: ROUNDS, refused })}\n`);
});

test(`an analysis racing the completion either counts in the verdict or is refused with 409 (${ROUNDS} rounds)`, async () => {
  const org = await newOrganization(sys.db);
  const sessions = createSessionActivities({ db: sys.db, config: sys.config });
  let counted = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const s = await createSessionAt(deps, org.organizationId, {});
    // The race is between the two PostgreSQL transactions; the workflow is not involved.
    await sys.client.workflow.getHandle(`session-${s.id}`).terminate('race test drives the records directly');
    await sys.db('sessions').where({ id: s.id }).update({ status: 'in_progress' });
    const [analysis, completion] = await Promise.all([
      settle(addSessionAnalysis(sys.db, org.organizationId, s.id, { kind: 'aml', status: 'ai_rejected' })),
      settle(sessions.completeSession({ sessionId: s.id })),
    ]);
    expect(completion.ok).toBe(true);
    const verdict = completion.ok ? completion.value.verdict : null;
    if (analysis.ok) {
      counted++;
      expect(verdict).toBe('ai_rejected');
    } else {
      expect((analysis.error as HttpProblem).status).toBe(409);
      expect(verdict).toBe('verify');
      expect(await sys.db('analyses').where({ session_id: s.id })).toHaveLength(0);
    }
  }
  process.stdout.write(`${JSON.stringify({ test: 'analysis vs completion', rounds: ROUNDS, counted })}\n`);
});

test('a stale recordDecision attempt and its retry, run at once, both answer the first result and one decision webhook is asked for', async () => {
  const org = await newOrganization(sys.db);
  const decisions = createDecisionActivities({ db: sys.db, config: sys.config });
  for (let i = 0; i < 10; i++) {
    const s = await createSessionAt(deps, org.organizationId, {});
    await sys.client.workflow.getHandle(`session-${s.id}`).terminate('race test drives the activity directly');
    const analysisId = randomUUID();
    await sys.db('analyses').insert({ id: analysisId, organization_id: org.organizationId, session_id: s.id, entity_id: s.entityId, kind: 'id', status: 'verify' });
    await sys.db('sessions').where({ id: s.id }).update({ status: 'completed', verdict: 'verify', completed_at: new Date() });
    const input = {
      decision: { analysisId, newStatus: 'user_approved' as const, operatorId: org.adminId },
      decisionKey: `${s.id}:update:${randomUUID()}`,
      organizationId: org.organizationId,
      scope: { sessionId: s.id },
    };
    const [a, b] = await Promise.all([decisions.recordDecision(input), decisions.recordDecision(input)]);
    // Both runs see the same decision: it changed the status, so each asks for the webhook
    // (whose delivery is unique per event), and the ledger holds it once.
    for (const r of [a, b]) {
      expect(r.outcome).toMatchObject({ accepted: true, changed: true, newStatus: 'user_approved' });
      expect(r.webhook ?? r.deliveryId).toBeTruthy();
    }
    expect(await sys.db('audit_events').where({ organization_id: org.organizationId, idempotency_key: `decision:${input.decisionKey}` })).toHaveLength(1);
  }
});
