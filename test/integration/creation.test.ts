import { verifyLedger } from '../../src/audit/ledger';
import { analysisWorkflowId, sessionWorkflowId } from '../../workflows/definitions';
import { apiWithoutTemporal, type ApiWithoutTemporal } from '../support/temporalDown';
import { call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// Creating a session or a standalone analysis never holds a database transaction across a call
// to Temporal (docs/architecture.md, "Creating a session"): the record is committed `pending`
// with its ledger event, the workflow is started by id afterwards, then the record is
// `created`. With Temporal unreachable the API answers 503; what happens to the record depends
// on whether the customer can ask again for the same one (Idempotency-Key) or not.
let sys: TestSystem;
let down: ApiWithoutTemporal;
let silent: ApiWithoutTemporal;

beforeAll(async () => {
  sys = await startSystem();
  down = await apiWithoutTemporal(sys, 'refused');
  silent = await apiWithoutTemporal(sys, 'silent');
});
afterAll(async () => {
  await down?.stop();
  await silent?.stop();
  await sys?.stop();
});

const body = { correlationId: 'CRM-creation', userInput: { firstName: 'Marie', lastName: 'Curie', birthDate: '1867-11-07' } };

test('a created session is committed, its workflow runs, and its row says created', async () => {
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body });
  expect(created.status).toBe(201);
  expect(created.body.status).toBe('created');
  expect(await sys.db('sessions').where({ id: created.body.id }).first('status')).toEqual({ status: 'created' });
  expect((await sys.client.workflow.getHandle(sessionWorkflowId(created.body.id)).describe()).status.name).toBe('RUNNING');
});

test('Temporal down, with an Idempotency-Key: 503, the session stays recorded as pending; the retry with the key answers 201 with the same session, now running', async () => {
  const org = await newOrganization(sys.db);
  const headers = { 'idempotency-key': `create-${org.organizationId}` };
  const refused = await call(down.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body });
  expectProblem(refused, 503);

  const rows = await sys.db('sessions').where({ organization_id: org.organizationId });
  expect(rows).toEqual([expect.objectContaining({ status: 'pending', correlation_id: 'CRM-creation' })]);
  const sessionId: string = rows[0].id;
  expect((await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'session.create' })).map((e) => e.resource_id)).toEqual([sessionId]);

  // The same key a moment later, Temporal back: the same session, link included, and its workflow.
  const retried = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body });
  expect(retried.status).toBe(201);
  expect(retried.headers.get('idempotent-replayed')).toBe('true');
  expect(retried.body).toMatchObject({ id: sessionId, status: 'created', correlationId: 'CRM-creation' });
  expect(await sys.db('sessions').where({ organization_id: org.organizationId }).select('id', 'status')).toEqual([{ id: sessionId, status: 'created' }]);
  expect((await sys.client.workflow.getHandle(sessionWorkflowId(sessionId)).describe()).status.name).toBe('RUNNING');
  // The link handed out works, and a third call replays the stored answer.
  expect((await call(sys.baseUrl, 'GET', new URL(retried.body.link.url).pathname)).body).toMatchObject({ sessionId, status: 'in_progress' });
  const third = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers, body });
  expect(third.body).toEqual(retried.body);
  // What the key stores is sealed under the session's data key: no link token, no correlation id.
  const stored = await sys.db('idempotency_keys').where({ organization_id: org.organizationId, key: headers['idempotency-key'] }).first();
  expect(stored.response_body).toMatchObject({ id: sessionId, sealed: { keyId: expect.any(String) } });
  expect(JSON.stringify(stored.response_body)).not.toContain(new URL(retried.body.link.url).pathname.split('/').pop());
  expect(JSON.stringify(stored.response_body)).not.toContain('CRM-creation');
  expect((await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'session.create' })).length).toBe(1);
  expect(await verifyLedger(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId)).toMatchObject({ valid: true });
});

test('Temporal down, without an Idempotency-Key: 503 and nothing of the request is kept (tombstone and ledger only)', async () => {
  const org = await newOrganization(sys.db);
  const refused = await call(down.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body });
  expectProblem(refused, 503);
  expect(refused.body.detail).toContain('nothing was kept');
  const [row] = await sys.db('sessions').where({ organization_id: org.organizationId });
  expect(row).toMatchObject({ status: 'purged', correlation_id: null });
  expect((await sys.db('entities').where({ id: row.entity_id }).first()).personal_data).toBeNull();
  const events = await sys.db('audit_events').where({ organization_id: org.organizationId }).orderBy('append_order');
  expect(events.map((e) => [e.action, e.actor_id, e.changes.reason ?? null])).toEqual([
    ['session.create', expect.any(String), null],
    ['session.purge', 'creation', 'creation_failed'],
  ]);
});

test('a hung Temporal: 503 once the start deadline passes, and the ledger of the organization is never held meanwhile', async () => {
  const org = await newOrganization(sys.db);
  let creationAnswered = false;
  const creation = call(silent.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, headers: { 'idempotency-key': 'hung' }, body }).then((res) => {
    creationAnswered = true;
    return res;
  });
  // Once the session row is committed, the API is waiting on Temporal...
  const { waitUntil } = await import('../support/system');
  await waitUntil(() => sys.db('sessions').where({ organization_id: org.organizationId }).first('status'), (r) => r?.status === 'pending');
  // ...and another audited write of the same organization goes through before it answers.
  const secret = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  expect(secret.status).toBe(200);
  expect(creationAnswered).toBe(false);
  expectProblem(await creation, 503);
  const actions = (await sys.db('audit_events').where({ organization_id: org.organizationId }).orderBy('append_order')).map((e) => e.action);
  expect(actions).toEqual(['session.create', 'webhook_secret.read']);
});

test('standalone analyses: committed pending, 503 with Temporal down, the retry with the key starts the same analysis', async () => {
  const org = await newOrganization(sys.db);
  const headers = { 'idempotency-key': 'analysis-1' };
  const analysis = { kind: 'kbis', status: 'verify', entity: { type: 'company' } };
  expectProblem(await call(down.baseUrl, 'POST', '/v1/analyses', { token: org.apiKey, headers, body: analysis }), 503);
  const [row] = await sys.db('analyses').where({ organization_id: org.organizationId });
  expect(row).toMatchObject({ workflow_pending: true, status: 'verify' });

  const retried = await call(sys.baseUrl, 'POST', '/v1/analyses', { token: org.apiKey, headers, body: analysis });
  expect(retried.status).toBe(201);
  expect(retried.body).toMatchObject({ id: row.id, sessionId: null, status: 'verify' });
  expect(await sys.db('analyses').where({ id: row.id }).first('workflow_pending')).toEqual({ workflow_pending: false });
  expect((await sys.client.workflow.getHandle(analysisWorkflowId(row.id)).describe()).status.name).toBe('RUNNING');

  // Without a key: nothing kept.
  expectProblem(await call(down.baseUrl, 'POST', '/v1/analyses', { token: org.apiKey, body: { kind: 'kbis', status: 'verify' } }), 503);
  const rows = await sys.db('analyses').where({ organization_id: org.organizationId }).orderBy('created_at');
  expect(rows.map((r) => r.status)).toEqual(['verify', 'purged']);
});
