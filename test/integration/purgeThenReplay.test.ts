import { sessionWorkflowId } from '../../workflows/definitions';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { call, newOrganization, startSystem, TestSystem, waitUntil } from '../support/system';

// Crypto-shredding against replay: the purge destroys the session's data key, and the
// workflow still has to finish after it. With no sticky cache every workflow task replays the
// whole history, as after an eviction, a sticky-queue timeout on a loaded worker or a worker
// restart: the workflow must end (Completed) all the same, by retention and by erasure.
let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem({ WORKER_MAX_CACHED_WORKFLOWS: '0', DATA_RETENTION_MIN: '1m' });
});
afterAll(async () => {
  await sys?.stop();
});

const closed = (id: string) => waitUntil(() => sys.client.workflow.getHandle(sessionWorkflowId(id)).describe(), (d) => d.status.name !== 'RUNNING', 180_000);

test('a session purged by retention ends its workflow even when every task replays', async () => {
  const org = await newOrganization(sys.db);
  expect((await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { dataRetention: '1m' } })).status).toBe(200);
  const deps = sessionDeps(sys.db, sys.client, sys.config.TEMPORAL_TASK_QUEUE, sys.baseUrl);
  // Created two minutes ago: overdue as soon as its workflow runs.
  const s = await createSessionAt(deps, org.organizationId, { userInput: { lastName: 'Lovelace' } }, new Date(Date.now() - 2 * 60_000));
  expect((await closed(s.id)).status.name).toBe('COMPLETED');
  expect((await sys.db('sessions').where({ id: s.id }).first()).status).toBe('purged');
});

test('a session erased by DELETE ends its workflow even when every task replays', async () => {
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { userInput: { lastName: 'Babbage' } } });
  expect(created.status).toBe(201);
  const erased = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${created.body.id}`, { token: org.adminToken });
  expect(erased.status).toBeLessThan(300);
  expect((await closed(created.body.id)).status.name).toBe('COMPLETED');
});
