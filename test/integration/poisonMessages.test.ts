import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { analysisWorkflowId, sessionWorkflowId } from '../../workflows/definitions';
import { call, newOrganization, startSystem, TestSystem, waitUntil } from '../support/system';

// Bad input from operators, as the issue tried it, on the dev server with the real CLI:
// `temporal workflow signal --name analystDecision --input null` used to make the recording
// activity throw a TypeError forever, so the session's queue, its erasure and its purge hung.
// Now the workflow refuses the message, audits it (outcome failure, no payload) and goes on.
// A cancel request purges and ends the workflow cleanly.
const run = promisify(execFile);
let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem({ DATA_RETENTION_MIN: '1m' });
});
afterAll(async () => {
  await sys?.stop();
});

async function temporalCli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.env.TEMPORAL_CLI_PATH!, [...args, '--address', sys.config.TEMPORAL_ADDRESS, '--namespace', sys.config.TEMPORAL_NAMESPACE], {
    timeout: 60_000,
  });
  return stdout;
}

async function completedSession(org: Awaited<ReturnType<typeof newOrganization>>) {
  const session = await call(sys.baseUrl, 'POST', '/v1/sessions', {
    token: org.apiKey,
    body: { correlationId: 'CRM-poison', userInput: { firstName: 'Ada', lastName: 'Lovelace' } },
  });
  expect(session.status).toBe(201);
  const analysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${session.body.id}/analyses`, {
    token: org.apiKey,
    body: { kind: 'id_document', status: 'verify', result: { name: 'ADA LOVELACE' } },
  });
  expect(analysis.status).toBe(201);
  const link = new URL(session.body.link.url).pathname;
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
  return { id: session.body.id as string, analysisId: analysis.body.id as string, entityId: session.body.entityId as string };
}

const refusals = (organizationId: string) =>
  sys.db('audit_events').where({ organization_id: organizationId, outcome: 'failure' }).orderBy('append_order');

test('a null analystDecision signal from the CLI is refused and audited; a REST decision, erasure and the retention purge still happen', async () => {
  const org = await newOrganization(sys.db);
  const erased = await completedSession(org);
  const kept = await completedSession(org);

  // The issue's exact command, and a typo'd decision that carries a name where an id belongs.
  await temporalCli('workflow', 'signal', '--workflow-id', sessionWorkflowId(erased.id), '--name', 'analystDecision', '--input', 'null');
  await temporalCli(
    'workflow', 'signal', '--workflow-id', sessionWorkflowId(kept.id), '--name', 'analystDecision',
    '--input', JSON.stringify({ analysisId: 'Ada Lovelace', newStatus: 'user_aproved', operatorId: org.adminId }),
  );

  // Each is recorded once with outcome failure, by where validation failed, never by value.
  const failed = await waitUntil(() => refusals(org.organizationId), (rows) => rows.length === 2);
  for (const event of failed) {
    expect(event).toMatchObject({ action: 'analysis.decision', category: 'decision', outcome: 'failure' });
    expect(event.changes).toMatchObject({ reason: 'invalid_input', signal: 'analystDecision' });
    expect(JSON.stringify(event)).not.toMatch(/Lovelace|aproved/);
  }
  expect(failed.map((e) => e.resource_id).sort()).toEqual([erased.id, kept.id].sort());
  expect(failed.find((e) => e.resource_id === kept.id)!.changes.issues.map((i: { path: string }) => i.path).sort()).toEqual(['analysisId', 'newStatus']);
  // The well-formed operator id is kept as the actor; nothing names a sender for `null`.
  expect(failed.find((e) => e.resource_id === kept.id)).toMatchObject({ actor_type: 'operator', actor_id: org.adminId });

  // The queue is not stuck: a REST decision answers and is applied.
  const decided = await call(sys.baseUrl, 'POST', `/v1/analyses/${erased.analysisId}/decision`, { token: org.adminToken, body: { newStatus: 'user_approved' } });
  expect(decided.status).toBe(200);
  expect(decided.body).toMatchObject({ analysisId: erased.analysisId, newStatus: 'user_approved' });

  // Erasure works.
  const deleted = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${erased.id}`, { token: org.adminToken });
  expect(deleted.status).toBe(200);
  expect(await sys.db('entities').where({ id: erased.entityId }).first()).toMatchObject({ personal_data: null });

  // And the retention purge runs for the other one: shorten retention to 1 minute.
  expect((await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { dataRetention: '1m' } })).status).toBe(200);
  const purged = await waitUntil(() => sys.db('sessions').where({ id: kept.id }).first(), (row) => row.status === 'purged');
  expect(purged).toMatchObject({ correlation_id: null });
  expect(await sys.db('entities').where({ id: kept.entityId }).first()).toMatchObject({ personal_data: null });
  for (const id of [erased.id, kept.id]) {
    expect(await sys.client.workflow.getHandle(sessionWorkflowId(id)).result()).toMatchObject({ status: 'purged' });
  }
}, 300_000);

test('a malformed retentionChanged signal is refused and audited; the purge instant does not move', async () => {
  const org = await newOrganization(sys.db);
  const s = await completedSession(org);
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(s.id));
  const before = (await handle.query('state')) as { purgeAt: string | null };
  await temporalCli('workflow', 'signal', '--workflow-id', sessionWorkflowId(s.id), '--name', 'retentionChanged', '--input', JSON.stringify({ dataRetention: '30 days' }));
  const [event] = await waitUntil(() => refusals(org.organizationId), (rows) => rows.length === 1);
  expect(event).toMatchObject({ action: 'retention.change', outcome: 'failure', resource_type: 'session', resource_id: s.id });
  expect(event.changes).toMatchObject({ signal: 'retentionChanged', issues: [{ path: 'dataRetention', code: 'custom' }] });
  expect(((await handle.query('state')) as { purgeAt: string | null }).purgeAt).toBe(before.purgeAt);
});

test('a cancel request on a session purges it and ends the workflow cleanly, audited', async () => {
  const org = await newOrganization(sys.db);
  const s = await completedSession(org);
  await temporalCli('workflow', 'cancel', '--workflow-id', sessionWorkflowId(s.id));

  const handle = sys.client.workflow.getHandle(sessionWorkflowId(s.id));
  const final = (await handle.result()) as { status: string; purgedAt: string };
  expect(final).toMatchObject({ status: 'purged', purgedAt: expect.any(String) });
  expect((await handle.describe()).status.name).toBe('COMPLETED');
  expect(await sys.db('sessions').where({ id: s.id }).first()).toMatchObject({ status: 'purged', correlation_id: null });
  expect(await sys.db('analyses').where({ id: s.analysisId }).first()).toMatchObject({ status: 'purged', result: null });
  expect(await sys.db('entities').where({ id: s.entityId }).first()).toMatchObject({ personal_data: null });
  const [event] = await sys.db('audit_events').where({ resource_type: 'session', resource_id: s.id, action: 'session.purge' });
  expect(event).toMatchObject({ actor_type: 'system', actor_id: 'cancellation', category: 'deletion', outcome: 'success' });
  expect(event.changes).toMatchObject({ reason: 'cancellation' });
});

test('a cancel request on a standalone analysis purges it too', async () => {
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/analyses', {
    token: org.apiKey,
    body: { kind: 'aml', status: 'verify', result: { hits: 0 }, entity: { type: 'person', userInput: { lastName: 'Noether' } } },
  });
  expect(created.status).toBe(201);
  await temporalCli('workflow', 'cancel', '--workflow-id', analysisWorkflowId(created.body.id));
  const handle = sys.client.workflow.getHandle(analysisWorkflowId(created.body.id));
  expect(await handle.result()).toMatchObject({ status: 'purged' });
  expect(await sys.db('analyses').where({ id: created.body.id }).first()).toMatchObject({ status: 'purged', result: null });
  const [event] = await sys.db('audit_events').where({ resource_type: 'analysis', resource_id: created.body.id, action: 'analysis.purge' });
  expect(event.changes).toMatchObject({ reason: 'cancellation' });
});
