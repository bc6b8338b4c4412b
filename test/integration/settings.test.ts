import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { chainPending, verifyLedger } from '../../src/audit/ledger';
import { createSessionAt, sessionDeps } from '../support/sessions';
import { addOperator, call, expectProblem, newOrganization, startSystem, TestSystem } from '../support/system';

// GET/PATCH /v1/settings and the retention preview on the dev server and PostgreSQL, with the
// product's own retention floor (1d). Every change is one ledger event with its diff; bad
// input is a 400 naming the field and changes nothing at all.
let sys: TestSystem;
const DAY_MS = 24 * 60 * 60 * 1000;

beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const settingsRow = (organizationId: string) => sys.db('settings').where({ organization_id: organizationId }).first();
/** The organization's chain: chained first, so two reads compare equal when nothing was appended. */
const ledger = async (organizationId: string) => {
  await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, organizationId);
  return sys.db('audit_events').where({ organization_id: organizationId }).orderBy('seq');
};

function expectFieldProblem(res: Parameters<typeof expectProblem>[0], status: number, fields: string[] = []) {
  expectProblem(res, status, fields);
  expect(res.body.detail).toEqual(expect.stringContaining(fields[0] ?? ''));
}

test('PATCH answers canonical values and records each change, with its before/after, in the ledger', async () => {
  const org = await newOrganization(sys.db);
  const initial = await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken });
  expect(initial.body).toEqual({ sessionEndWebhookUrl: null, decisionWebhookUrl: null, dataRetention: null, sessionLinkExpiry: '1d' });

  const steps: [Record<string, unknown>, Record<string, unknown>, Record<string, { before: unknown; after: unknown }>][] = [
    [{ dataRetention: '720h' }, { dataRetention: '30d' }, { dataRetention: { before: null, after: '30d' } }],
    [{ dataRetention: '36h', sessionLinkExpiry: '90m' }, { dataRetention: '1d12h', sessionLinkExpiry: '1h30m' }, {
      dataRetention: { before: '30d', after: '1d12h' },
      sessionLinkExpiry: { before: '1d', after: '1h30m' },
    }],
    [{ sessionEndWebhookUrl: 'https://hooks.example.com/end', decisionWebhookUrl: 'https://hooks.example.com/decision' }, {}, {
      sessionEndWebhookUrl: { before: null, after: 'https://hooks.example.com/end' },
      decisionWebhookUrl: { before: null, after: 'https://hooks.example.com/decision' },
    }],
    // Only what changed is recorded: the same URL again is not part of the diff.
    [{ dataRetention: null, sessionEndWebhookUrl: 'https://hooks.example.com/end', decisionWebhookUrl: null }, { dataRetention: null, decisionWebhookUrl: null }, {
      dataRetention: { before: '1d12h', after: null },
      decisionWebhookUrl: { before: 'https://hooks.example.com/decision', after: null },
    }],
  ];
  for (const [patch, expected, diff] of steps) {
    const seen = (await ledger(org.organizationId)).length;
    const res = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: patch, headers: { 'user-agent': 'settings-test/1' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject(expected);
    expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken })).body).toEqual(res.body);
    const events = (await ledger(org.organizationId)).slice(seen);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'settings.update',
      category: 'modification',
      actor_type: 'operator',
      actor_id: org.adminId,
      resource_type: 'settings',
      resource_id: org.organizationId,
      outcome: 'success',
      request_id: res.headers.get('x-request-id'),
      user_agent: 'settings-test/1',
    });
    expect(events[0].changes).toEqual(diff);
  }
  expect(await verifyLedger(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId)).toMatchObject({ valid: true, checked: 4 });
});

test('a PATCH that changes nothing writes nothing', async () => {
  const org = await newOrganization(sys.db);
  await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { dataRetention: '30d' } });
  const row = await settingsRow(org.organizationId);
  const events = (await ledger(org.organizationId)).length;
  for (const body of [{}, { dataRetention: '30d' }, { dataRetention: '720h', sessionLinkExpiry: '24h' }, { sessionEndWebhookUrl: null }]) {
    const res = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dataRetention: '30d', sessionLinkExpiry: '1d' });
  }
  expect(await settingsRow(org.organizationId)).toEqual(row);
  expect(await ledger(org.organizationId)).toHaveLength(events);
});

const long = `https://example.com/${'a'.repeat(2100)}`;
const badPatches: [string, Record<string, unknown>, string[]][] = [
  ['retention zero days', { dataRetention: '0d' }, ['dataRetention']],
  ['retention zero minutes', { dataRetention: '0m' }, ['dataRetention']],
  ['retention negative', { dataRetention: '-1d' }, ['dataRetention']],
  ['retention 1x', { dataRetention: '1x' }, ['dataRetention']],
  ['retention empty string', { dataRetention: '' }, ['dataRetention']],
  ['retention upper-case unit', { dataRetention: '1D' }, ['dataRetention']],
  ['retention units out of order', { dataRetention: '1h1d' }, ['dataRetention']],
  ['retention with spaces', { dataRetention: ' 1d' }, ['dataRetention']],
  ['retention below the 1d floor', { dataRetention: '23h59m' }, ['dataRetention']],
  ['retention above 3650d', { dataRetention: '3651d' }, ['dataRetention']],
  ['retention absurdly large', { dataRetention: '99999999999999999999d' }, ['dataRetention']],
  ['retention as a number', { dataRetention: 30 }, ['dataRetention']],
  ['retention as an object', { dataRetention: { days: 30 } }, ['dataRetention']],
  ['link expiry zero', { sessionLinkExpiry: '0m' }, ['sessionLinkExpiry']],
  ['link expiry negative', { sessionLinkExpiry: '-5m' }, ['sessionLinkExpiry']],
  ['link expiry 1x', { sessionLinkExpiry: '1x' }, ['sessionLinkExpiry']],
  ['link expiry empty', { sessionLinkExpiry: '' }, ['sessionLinkExpiry']],
  ['link expiry over 60d', { sessionLinkExpiry: '60d1m' }, ['sessionLinkExpiry']],
  ['link expiry null (it has no "indefinitely")', { sessionLinkExpiry: null }, ['sessionLinkExpiry']],
  ['webhook URL ftp', { sessionEndWebhookUrl: 'ftp://example.com/hook' }, ['sessionEndWebhookUrl']],
  ['webhook URL javascript', { sessionEndWebhookUrl: 'javascript:alert(1)' }, ['sessionEndWebhookUrl']],
  ['webhook URL without scheme', { sessionEndWebhookUrl: 'example.com/hook' }, ['sessionEndWebhookUrl']],
  ['webhook URL empty', { decisionWebhookUrl: '' }, ['decisionWebhookUrl']],
  ['webhook URL file', { decisionWebhookUrl: 'file:///etc/passwd' }, ['decisionWebhookUrl']],
  ['webhook URL with credentials', { decisionWebhookUrl: 'https://user:secret@example.com/hook' }, ['decisionWebhookUrl']],
  ['webhook URL over 2048 characters', { decisionWebhookUrl: long }, ['decisionWebhookUrl']],
  ['webhook URL as a number', { sessionEndWebhookUrl: 42 }, ['sessionEndWebhookUrl']],
  ['one bad field among good ones', { sessionLinkExpiry: '2d', decisionWebhookUrl: 'https://ok.example.com/h', dataRetention: '-1d' }, ['dataRetention']],
  ['two bad fields', { dataRetention: '1x', sessionLinkExpiry: '0m' }, ['dataRetention', 'sessionLinkExpiry']],
  ['unknown field', { retention: '30d' }, ['retention']],
];

describe('bad settings are refused with a 400 naming the field, and change nothing', () => {
  let org: Awaited<ReturnType<typeof newOrganization>>;
  beforeAll(async () => {
    org = await newOrganization(sys.db);
    const res = await call(sys.baseUrl, 'PATCH', '/v1/settings', {
      token: org.adminToken,
      body: { dataRetention: '30d', sessionLinkExpiry: '2h', sessionEndWebhookUrl: 'https://hooks.example.com/end' },
    });
    expect(res.status).toBe(200);
  });

  test.each(badPatches)('%s', async (_label, body, fields) => {
    const row = await settingsRow(org.organizationId);
    const events = await ledger(org.organizationId);
    const res = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body });
    expectFieldProblem(res, 400, fields);
    expect(await settingsRow(org.organizationId)).toEqual(row);
    expect(await ledger(org.organizationId)).toEqual(events);
  });

  test('malformed JSON, a JSON array and a non-JSON body', async () => {
    const row = await settingsRow(org.organizationId);
    for (const [rawBody, type] of [['{"dataRetention": ', 'application/json'], ['[1]', 'application/json'], ['dataRetention=1d', 'application/x-www-form-urlencoded']]) {
      const res = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, rawBody, headers: { 'content-type': type } });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    expect(await settingsRow(org.organizationId)).toEqual(row);
  });

  test('only admins change settings; every operator reads them', async () => {
    const row = await settingsRow(org.organizationId);
    const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
    const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
    for (const token of [analyst.token, auditor.token, org.apiKey]) {
      expectFieldProblem(await call(sys.baseUrl, 'PATCH', '/v1/settings', { token, body: { dataRetention: '31d' } }), 403);
    }
    expectFieldProblem(await call(sys.baseUrl, 'PATCH', '/v1/settings', { body: { dataRetention: '31d' } }), 401);
    for (const token of [analyst.token, auditor.token]) {
      expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token })).body).toMatchObject({ dataRetention: '30d', sessionLinkExpiry: '2h' });
    }
    expect(await settingsRow(org.organizationId)).toEqual(row);
  });
});

describe('retention preview', () => {
  let org: Awaited<ReturnType<typeof newOrganization>>;
  const now = Date.now();
  const ages = [40, 20, 5, 0]; // days since creation

  beforeAll(async () => {
    org = await newOrganization(sys.db);
    const deps = sessionDeps(sys.db, sys.client, sys.config.TEMPORAL_TASK_QUEUE, sys.baseUrl);
    for (const age of ages) await createSessionAt(deps, org.organizationId, {}, new Date(now - age * DAY_MS));
    // A standalone analysis 40 days old (the preview reads rows; no workflow needed here).
    const entityId = randomUUID();
    await sys.db('entities').insert({ id: entityId, organization_id: org.organizationId, type: 'person', created_at: new Date(now - 40 * DAY_MS) });
    await sys.db('analyses').insert({ id: randomUUID(), organization_id: org.organizationId, entity_id: entityId, kind: 'aml', status: 'verify', created_at: new Date(now - 40 * DAY_MS) });
  });

  const dateIn = (days: number, fromAge: number) => new Date(now - fromAge * DAY_MS + days * DAY_MS).toISOString().slice(0, 10);
  const sum = (f: { purgeNow: number; scheduled: { count: number }[]; later: number; kept: number }) =>
    f.purgeNow + f.scheduled.reduce((n, d) => n + d.count, 0) + f.later + f.kept;

  test('shows what a value would purge now and on which days, and saves nothing', async () => {
    const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
    const row = await settingsRow(org.organizationId);
    const res = await call(sys.baseUrl, 'GET', '/v1/settings/retention-preview?dataRetention=720h', { token: analyst.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dataRetention: '30d', currentDataRetention: null, horizonDays: 30 });
    expect(Math.abs(Date.parse(res.body.asOf) - Date.now())).toBeLessThan(60_000);
    // 40 days old: overdue. 20 and 5 days old: in 10 and 25 days. Created now: in 30 days.
    expect(res.body.sessions).toEqual({
      total: 4,
      purgeNow: 1,
      scheduled: [
        { date: dateIn(30, 20), count: 1 },
        { date: dateIn(30, 5), count: 1 },
        { date: dateIn(30, 0), count: 1 },
      ],
      later: 0,
      kept: 0,
    });
    expect(res.body.analyses).toEqual({ total: 1, purgeNow: 1, scheduled: [], later: 0, kept: 0 });
    expect(await settingsRow(org.organizationId)).toEqual(row);
  });

  test('a shorter horizon counts the rest as later; null keeps everything', async () => {
    const week = await call(sys.baseUrl, 'GET', '/v1/settings/retention-preview?dataRetention=30d&days=7', { token: org.adminToken });
    expect(week.body.sessions).toMatchObject({ total: 4, purgeNow: 1, scheduled: [], later: 3 });
    const long = await call(sys.baseUrl, 'GET', '/v1/settings/retention-preview?dataRetention=10d', { token: org.adminToken });
    expect(long.body.sessions).toMatchObject({ purgeNow: 2, scheduled: [{ date: dateIn(10, 5), count: 1 }, { date: dateIn(10, 0), count: 1 }], later: 0 });
    const never = await call(sys.baseUrl, 'GET', '/v1/settings/retention-preview?dataRetention=null', { token: org.adminToken });
    expect(never.body).toMatchObject({
      dataRetention: null,
      sessions: { total: 4, purgeNow: 0, scheduled: [], later: 0, kept: 4 },
      analyses: { total: 1, purgeNow: 0, scheduled: [], later: 0, kept: 1 },
    });
    for (const preview of [week.body, long.body, never.body]) {
      expect(sum(preview.sessions)).toBe(preview.sessions.total);
      expect(sum(preview.analyses)).toBe(preview.analyses.total);
    }
  });

  test.each([
    ['missing value', '', ['query.dataRetention']],
    ['1x', '?dataRetention=1x', ['query.dataRetention']],
    ['zero', '?dataRetention=0d', ['query.dataRetention']],
    ['negative', '?dataRetention=-1d', ['query.dataRetention']],
    ['empty', '?dataRetention=', ['query.dataRetention']],
    ['below the floor', '?dataRetention=1h', ['query.dataRetention']],
    ['above 3650d', '?dataRetention=3651d', ['query.dataRetention']],
    ['horizon 0', '?dataRetention=30d&days=0', ['query.days']],
    ['horizon too long', '?dataRetention=30d&days=367', ['query.days']],
    ['horizon not a number', '?dataRetention=30d&days=soon', ['query.days']],
    ['unknown parameter', '?dataRetention=30d&org=other', ['query.org']],
  ])('bad preview query: %s', async (_label, query, fields) => {
    expectFieldProblem(await call(sys.baseUrl, 'GET', `/v1/settings/retention-preview${query}`, { token: org.adminToken }), 400, fields);
  });

  test('API keys cannot preview', async () => {
    expectFieldProblem(await call(sys.baseUrl, 'GET', '/v1/settings/retention-preview?dataRetention=30d', { token: org.apiKey }), 403);
  });
});

test('with Temporal unreachable, a retention change or an erasure is refused with 503 and nothing changes', async () => {
  const org = await newOrganization(sys.db);
  const session = await createSessionAt(sessionDeps(sys.db, sys.client, sys.config.TEMPORAL_TASK_QUEUE, sys.baseUrl), org.organizationId, { userInput: { lastName: 'Kept' } });
  const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s' }), namespace: 'default' });
  const server = http.createServer(createApp({ config: { ...sys.config, TEMPORAL_START_DEADLINE_MS: 4000 }, db: sys.db, temporal: unreachable, keys: sys.keys }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const row = await settingsRow(org.organizationId);
    const events = await ledger(org.organizationId);
    const refused = await call(base, 'PATCH', '/v1/settings', { token: org.adminToken, body: { dataRetention: '30d', sessionLinkExpiry: '2h' } });
    expectFieldProblem(refused, 503);
    expect(await settingsRow(org.organizationId)).toEqual(row);
    expect(await ledger(org.organizationId)).toEqual(events);
    const erasure = await call(base, 'DELETE', `/v1/sessions/${session.id}`, { token: org.adminToken });
    expectFieldProblem(erasure, 503);
    expect(await sys.db('sessions').where({ id: session.id }).first()).toMatchObject({ status: 'created', purged_at: null });
    expect((await sys.db('entities').where({ id: session.entityId }).first()).personal_data).toEqual({ lastName: 'Kept' });
    expect(await ledger(org.organizationId)).toEqual(events);
    // Settings that do not need Temporal still change.
    const ok = await call(base, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionLinkExpiry: '2h' } });
    expect(ok.body).toMatchObject({ sessionLinkExpiry: '2h', dataRetention: null });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await unreachable.connection.close().catch(() => undefined);
  }
});
