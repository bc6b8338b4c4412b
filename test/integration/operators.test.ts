import { createOperator } from '../../src/orgs/operators';
import { call, newOrganization, startSystem, TestSystem } from '../support/system';

// Operators and API keys over REST, against the real API and PostgreSQL: shown-once secrets,
// immediate effect of disabling/revoking, the last-admin rule, and one ledger event per change.
let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

type Org = Awaited<ReturnType<typeof newOrganization>>;

async function addOperator(org: Org, role: 'admin' | 'analyst' | 'auditor', email = `${role}-${Math.random().toString(36).slice(2)}@example.com`) {
  const res = await call(sys.baseUrl, 'POST', '/v1/operators', { token: org.adminToken, body: { email, role } });
  expect(res.status).toBe(201);
  return res.body as { id: string; email: string; role: string; token: string; createdAt: string };
}

async function ledger(org: Org, query = '') {
  const res = await call(sys.baseUrl, 'GET', `/v1/audit-events?limit=200${query}`, { token: org.adminToken });
  expect(res.status).toBe(200);
  return res.body.data as any[];
}

test('an admin creates an operator: token shown once, listed without secrets, recorded in the ledger', async () => {
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/operators', {
    token: org.adminToken,
    body: { email: 'Analyst.One@Example.com', role: 'analyst' },
  });
  expect(created.status).toBe(201);
  expect(created.headers.get('cache-control')).toBe('no-store');
  expect(Object.keys(created.body).sort()).toEqual(['createdAt', 'email', 'id', 'role', 'token', 'tokenExpiresAt']);
  expect(created.body).toMatchObject({ email: 'analyst.one@example.com', role: 'analyst' });
  expect(created.body.token).toMatch(/^kyc_op_[A-Za-z0-9_-]{43}$/);
  const { id, token } = created.body;

  // The token works at once, with the analyst's rights only.
  expect((await call(sys.baseUrl, 'GET', '/v1/sessions', { token })).status).toBe(200);
  expect((await call(sys.baseUrl, 'GET', '/v1/operators', { token })).status).toBe(403);

  // Stored only as a hash.
  const row = await sys.db('operators').where({ id }).first();
  expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
  expect(JSON.stringify(row)).not.toContain(token);

  const list = await call(sys.baseUrl, 'GET', '/v1/operators', { token: org.adminToken });
  expect(list.status).toBe(200);
  expect(list.body.nextCursor).toBeNull();
  expect(list.body.data.map((o: any) => o.id).sort()).toEqual([id, org.adminId].sort());
  expect(list.body.data.find((o: any) => o.id === id)).toEqual({
    id,
    email: 'analyst.one@example.com',
    role: 'analyst',
    disabled: false,
    disabledAt: null,
    createdAt: created.body.createdAt,
  });
  expect(JSON.stringify(list.body)).not.toMatch(/kyc_op_|token/i);

  const [event] = await ledger(org, '&action=operator.create');
  expect(event).toMatchObject({
    action: 'operator.create',
    category: 'creation',
    actor: { type: 'operator', id: org.adminId },
    resource: { type: 'operator', id },
    changes: { before: null, after: { email: 'analyst.one@example.com', role: 'analyst', disabled: false } },
    outcome: 'success',
  });
  expect(event.requestId).toBe(created.headers.get('x-request-id'));
  expect(JSON.stringify(event)).not.toContain(token.slice(7, 20));
});

test('a duplicate email (any case) is a 409 and appends nothing', async () => {
  const org = await newOrganization(sys.db);
  await addOperator(org, 'auditor', 'same@example.com');
  const before = await ledger(org);
  const dup = await call(sys.baseUrl, 'POST', '/v1/operators', {
    token: org.adminToken,
    body: { email: 'SAME@example.com', role: 'analyst' },
  });
  expect(dup.status).toBe(409);
  expect(dup.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(dup.body).toMatchObject({ type: '/problems/conflict', status: 409 });
  expect(await ledger(org)).toEqual(before);
  expect(await sys.db('operators').where({ organization_id: org.organizationId }).count<{ count: string }[]>('* as count')).toEqual([
    { count: '2' },
  ]);
});

test('bad input is a 400 problem naming the field', async () => {
  const org = await newOrganization(sys.db);
  const before = await ledger(org);
  const cases: [string, string, unknown, string[]][] = [
    ['POST', '/v1/operators', { email: 'x@example.com', role: 'root' }, ['role']],
    ['POST', '/v1/operators', { email: 'not-an-email', role: 'admin' }, ['email']],
    ['POST', '/v1/operators', { email: 'x@example.com', role: 'admin', token: 'mine' }, ['token']],
    ['POST', '/v1/operators', {}, ['email', 'role']],
    ['PATCH', `/v1/operators/${org.adminId}`, {}, ['(body)']],
    ['PATCH', `/v1/operators/${org.adminId}`, { disabled: 'yes' }, ['disabled']],
    ['PATCH', '/v1/operators/not-a-uuid', { role: 'admin' }, ['params.id']],
    ['POST', '/v1/api-keys', { label: '' }, ['label']],
    ['POST', '/v1/api-keys', { label: 'ok', scopes: [] }, ['scopes']],
    ['DELETE', '/v1/api-keys/123', undefined, ['params.id']],
  ];
  for (const [method, path, body, paths] of cases) {
    const res = await call(sys.baseUrl, method, path, { token: org.adminToken, body });
    expect([method, path, res.status]).toEqual([method, path, 400]);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.errors.map((e: any) => e.path).sort()).toEqual(paths);
  }
  const malformed = await call(sys.baseUrl, 'POST', '/v1/operators', { token: org.adminToken, rawBody: '{"email":' });
  expect(malformed.status).toBe(400);
  expect(malformed.body.type).toBe('/problems/malformed-json');
  const badLimit = await call(sys.baseUrl, 'GET', '/v1/operators?limit=0', { token: org.adminToken });
  expect(badLimit.status).toBe(400);
  expect(badLimit.body.errors[0].path).toBe('query.limit');
  // Nothing was created or recorded by any of them.
  expect(await ledger(org)).toEqual(before);
});

test('changing a role and disabling take effect on the next request and are recorded with before/after', async () => {
  const org = await newOrganization(sys.db);
  const op = await addOperator(org, 'analyst');

  const promoted = await call(sys.baseUrl, 'PATCH', `/v1/operators/${op.id}`, { token: org.adminToken, body: { role: 'auditor' } });
  expect(promoted.status).toBe(200);
  expect(promoted.body).toMatchObject({ id: op.id, role: 'auditor', disabled: false });
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events', { token: op.token })).status).toBe(200);

  const disabled = await call(sys.baseUrl, 'PATCH', `/v1/operators/${op.id}`, { token: org.adminToken, body: { disabled: true } });
  expect(disabled.status).toBe(200);
  expect(disabled.body).toMatchObject({ id: op.id, role: 'auditor', disabled: true });
  expect(Date.parse(disabled.body.disabledAt)).not.toBeNaN();
  const refused = await call(sys.baseUrl, 'GET', '/v1/audit-events', { token: op.token });
  expect(refused.status).toBe(401);
  expect(refused.body.type).toBe('/problems/unauthorized');

  // A patch that changes nothing appends nothing.
  const countBefore = (await ledger(org)).length;
  const again = await call(sys.baseUrl, 'PATCH', `/v1/operators/${op.id}`, { token: org.adminToken, body: { disabled: true } });
  expect(again.body.disabledAt).toBe(disabled.body.disabledAt);
  expect((await ledger(org)).length).toBe(countBefore);

  const enabled = await call(sys.baseUrl, 'PATCH', `/v1/operators/${op.id}`, { token: org.adminToken, body: { disabled: false } });
  expect(enabled.body).toMatchObject({ disabled: false, disabledAt: null, token: expect.stringMatching(/^kyc_op_/) });
  // Re-enabled with a fresh token: the one held before the disable never works again.
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events', { token: op.token })).status).toBe(401);
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events', { token: enabled.body.token })).status).toBe(200);

  const updates = await ledger(org, '&action=operator.update');
  expect(updates.map((e) => [e.category, e.resource, e.changes.before, e.changes.after])).toEqual([
    ['modification', { type: 'operator', id: op.id }, { email: op.email, role: 'auditor', disabled: true }, { email: op.email, role: 'auditor', disabled: false }],
    ['modification', { type: 'operator', id: op.id }, { email: op.email, role: 'auditor', disabled: false }, { email: op.email, role: 'auditor', disabled: true }],
    ['modification', { type: 'operator', id: op.id }, { email: op.email, role: 'analyst', disabled: false }, { email: op.email, role: 'auditor', disabled: false }],
  ]);
});

test('the last active admin cannot disable or demote themself; with a second admin they can', async () => {
  const org = await newOrganization(sys.db);
  for (const body of [{ disabled: true }, { role: 'analyst' }, { role: 'auditor', disabled: true }]) {
    const res = await call(sys.baseUrl, 'PATCH', `/v1/operators/${org.adminId}`, { token: org.adminToken, body });
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/last active admin/);
  }
  // A disabled admin does not count as an active one.
  const dormant = await addOperator(org, 'admin');
  expect((await call(sys.baseUrl, 'PATCH', `/v1/operators/${dormant.id}`, { token: org.adminToken, body: { disabled: true } })).status).toBe(200);
  expect((await call(sys.baseUrl, 'PATCH', `/v1/operators/${org.adminId}`, { token: org.adminToken, body: { role: 'analyst' } })).status).toBe(409);
  expect(await ledger(org, '&resourceId=' + org.adminId)).toEqual([]);

  const second = await addOperator(org, 'admin');
  const demoted = await call(sys.baseUrl, 'PATCH', `/v1/operators/${org.adminId}`, { token: org.adminToken, body: { role: 'analyst' } });
  expect(demoted.status).toBe(200);
  expect((await call(sys.baseUrl, 'GET', '/v1/operators', { token: org.adminToken })).status).toBe(403);
  // Now the second admin is the last one.
  const selfDisable = await call(sys.baseUrl, 'PATCH', `/v1/operators/${second.id}`, { token: second.token, body: { disabled: true } });
  expect(selfDisable.status).toBe(409);
});

test('API keys: shown once, listed without secrets, revoked keys fail at once, recorded without the key', async () => {
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/api-keys', { token: org.adminToken, body: { label: 'CRM, "prod"' } });
  expect(created.status).toBe(201);
  expect(Object.keys(created.body).sort()).toEqual(['createdAt', 'id', 'key', 'label']);
  expect(created.body.key).toMatch(/^kyc_sk_[A-Za-z0-9_-]{43}$/);
  const { id, key } = created.body;
  expect((await call(sys.baseUrl, 'GET', '/v1/sessions', { token: key })).status).toBe(200);

  const list = await call(sys.baseUrl, 'GET', '/v1/api-keys?limit=1', { token: org.adminToken });
  expect(list.status).toBe(200);
  expect(list.body.data).toEqual([{ id, label: 'CRM, "prod"', revoked: false, revokedAt: null, createdAt: created.body.createdAt }]);
  expect(list.body.nextCursor).toEqual(expect.any(String)); // the bootstrap key is on the next page
  const next = await call(sys.baseUrl, 'GET', `/v1/api-keys?limit=1&cursor=${list.body.nextCursor}`, { token: org.adminToken });
  expect(next.body.data).toHaveLength(1);
  expect(next.body.data[0].label).toBe('default');
  expect(JSON.stringify([list.body, next.body])).not.toMatch(/kyc_sk_|token|hash/);

  const revoked = await call(sys.baseUrl, 'DELETE', `/v1/api-keys/${id}`, { token: org.adminToken });
  expect(revoked.status).toBe(204);
  const refused = await call(sys.baseUrl, 'GET', '/v1/sessions', { token: key });
  expect(refused.status).toBe(401);
  // Other keys are untouched.
  expect((await call(sys.baseUrl, 'GET', '/v1/sessions', { token: org.apiKey })).status).toBe(200);
  // Revoking again changes nothing and records nothing.
  expect((await call(sys.baseUrl, 'DELETE', `/v1/api-keys/${id}`, { token: org.adminToken })).status).toBe(204);

  const events = await ledger(org, '&resourceType=api_key');
  expect(events.map((e) => [e.action, e.category, e.resource])).toEqual([
    ['api_key.revoke', 'deletion', { type: 'api_key', id }],
    ['api_key.create', 'creation', { type: 'api_key', id }],
  ]);
  expect(events[1].changes).toEqual({ before: null, after: { label: 'CRM, "prod"', key: expect.stringMatching(/^kyc_sk_.{3}…\(masked\)$/), revoked: false } });
  expect(events[0].changes).toEqual({ before: { label: 'CRM, "prod"', revoked: false }, after: { label: 'CRM, "prod"', revoked: true } });
  expect(JSON.stringify(events)).not.toContain(key);
});

test('Idempotency-Key on a creation replays the same resource without its secret, once in the ledger', async () => {
  const org = await newOrganization(sys.db);
  const headers = { 'idempotency-key': 'create-key-1' };
  const first = await call(sys.baseUrl, 'POST', '/v1/api-keys', { token: org.adminToken, body: { label: 'ci' }, headers });
  const second = await call(sys.baseUrl, 'POST', '/v1/api-keys', { token: org.adminToken, body: { label: 'ci' }, headers });
  expect(first.status).toBe(201);
  expect(first.body.key).toMatch(/^kyc_sk_/);
  expect(second.status).toBe(201);
  expect(second.headers.get('idempotent-replayed')).toBe('true');
  expect(second.body).toEqual({ ...first.body, key: null });
  const other = await call(sys.baseUrl, 'POST', '/v1/api-keys', { token: org.adminToken, body: { label: 'other' }, headers });
  expect(other.status).toBe(422);
  // The stored replay holds no secret.
  const stored = await sys.db('idempotency_keys').where({ organization_id: org.organizationId, key: 'create-key-1' }).first();
  expect(JSON.stringify(stored.response_body)).not.toContain(first.body.key);
  expect((await ledger(org, '&action=api_key.create')).map((e) => e.resource.id)).toEqual([first.body.id]);
});

test('roles: only admins manage operators and keys; API keys cannot either', async () => {
  const org = await newOrganization(sys.db);
  const auditor = await addOperator(org, 'auditor');
  const analyst = await addOperator(org, 'analyst');
  for (const token of [auditor.token, analyst.token, org.apiKey]) {
    for (const [method, path, body] of [
      ['POST', '/v1/operators', { email: 'z@example.com', role: 'admin' }],
      ['GET', '/v1/operators', undefined],
      ['PATCH', `/v1/operators/${analyst.id}`, { role: 'admin' }],
      ['POST', '/v1/api-keys', { label: 'x' }],
      ['GET', '/v1/api-keys', undefined],
      ['DELETE', `/v1/api-keys/${analyst.id}`, undefined],
    ] as const) {
      const res = await call(sys.baseUrl, method, path, { token, body });
      expect([method, path, res.status]).toEqual([method, path, 403]);
    }
  }
  expect((await call(sys.baseUrl, 'POST', '/v1/operators', { body: { email: 'z@example.com', role: 'admin' } })).status).toBe(401);
});

test("another organization's operator or key is a 404, and nothing changes", async () => {
  const mine = await newOrganization(sys.db);
  const theirs = await newOrganization(sys.db, 'Other');
  const theirOperator = await addOperator(theirs, 'analyst');
  const theirKey = (await call(sys.baseUrl, 'POST', '/v1/api-keys', { token: theirs.adminToken, body: { label: 'theirs' } })).body;
  const before = await ledger(mine);

  for (const [method, path, body] of [
    ['PATCH', `/v1/operators/${theirOperator.id}`, { disabled: true }],
    ['GET', `/v1/operators/${theirOperator.id}`, undefined],
    ['DELETE', `/v1/api-keys/${theirKey.id}`, undefined],
  ] as const) {
    const res = await call(sys.baseUrl, method, path, { token: mine.adminToken, body });
    expect([method, path, res.status]).toEqual([method, path, 404]);
  }
  expect((await call(sys.baseUrl, 'GET', '/v1/sessions', { token: theirOperator.token })).status).toBe(200);
  expect((await call(sys.baseUrl, 'GET', '/v1/sessions', { token: theirKey.key })).status).toBe(200);
  expect(await ledger(mine)).toEqual(before);
});

test('the operator row and its ledger event commit together: a failing append rolls the operator back', async () => {
  const org = await newOrganization(sys.db);
  const origin = {
    organizationId: org.organizationId,
    // Refused by the ledger's CHECK constraint on actor_type, after the operator row was inserted.
    actor: { type: 'robot' as never, id: org.adminId, label: 'x' },
  };
  await expect(createOperator(sys.db, sys.config.AUDIT_HMAC_KEY, origin, { email: 'atomic@example.com', role: 'analyst' })).rejects.toThrow(
    /actor_type/,
  );
  expect(await sys.db('operators').where({ organization_id: org.organizationId, email: 'atomic@example.com' })).toEqual([]);
  expect(await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'operator.create' })).toEqual([]);
});
