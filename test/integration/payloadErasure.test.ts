import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { MasterKeys, DataKeyStore } from '../../src/payloads/keyStore';
import { sessionScope } from '../../src/payloads/scopes';
import { currentWebhookSecret, rewrapWebhookSecrets } from '../../src/settings/settings';
import { sessionWorkflowId, stateQuery } from '../../workflows/definitions';
import { readHistory, unencryptedPayloads } from '../support/history';
import { WebhookReceiver } from '../support/receiver';
import { addOperator, call, newOrganization, startSystem, TestSystem, waitUntil } from '../support/system';
import { deliveryResult } from '../support/webhooks';

// Crypto-shredding end to end on the dev server: a session driven through every path holds
// nothing personal in what Temporal stores, decodes for its operators through the codec
// server (audited, own organization only), and after erasure cannot be decoded by anyone
// while another session still can.
const run = promisify(execFile);
let sys: TestSystem;
let receiver: WebhookReceiver;

beforeAll(async () => {
  sys = await startSystem();
  receiver = await new WebhookReceiver().start();
});
afterAll(async () => {
  await receiver?.stop();
  await sys?.stop();
});

const cli = (args: string[]) =>
  run(process.env.TEMPORAL_CLI_PATH!, [...args, '--address', sys.config.TEMPORAL_ADDRESS, '--namespace', 'default'], {
    env: { PATH: process.env.PATH },
  });

/** A session of `org` through every path: userInput + correlationId, upload, analyses, completion, decisions. */
async function sessionThroughEveryPath(org: Awaited<ReturnType<typeof newOrganization>>, analyst: { id: string; token: string }, tag: string) {
  const markers = {
    firstName: `Firstname${tag}`,
    lastName: `Lastname${tag}`,
    // Unique per session too: the dump holds the other tests' sessions.
    birthDate: `19${String(parseInt(tag.slice(0, 2), 16) % 100).padStart(2, '0')}-${String((parseInt(tag.slice(2, 4), 16) % 12) + 1).padStart(2, '0')}-${(parseInt(tag.slice(4, 6), 16) % 19) + 10}`,
    correlationId: `CORR-${tag}`,
    fileName: `scan-${tag}.jpg`,
    result: `MRZ<<${tag}`,
    restComment: `rest comment ${tag}`,
    uiComment: `typed in the ui ${tag}`,
  };
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', {
    token: org.apiKey,
    body: { correlationId: markers.correlationId, userInput: { firstName: markers.firstName, lastName: markers.lastName, birthDate: markers.birthDate } },
  });
  expect(created.status).toBe(201);
  const id: string = created.body.id;
  const link = new URL(created.body.link.url).pathname;
  expect((await call(sys.baseUrl, 'GET', link)).status).toBe(200);
  const doc = await call(sys.baseUrl, 'POST', `${link}/documents`, {
    body: { type: 'passport', fileName: markers.fileName, contentType: 'image/jpeg', contentBase64: Buffer.from(`bytes ${tag}`).toString('base64') },
  });
  expect(doc.status).toBe(201);
  const analyses = [];
  for (const status of ['verify', 'verify']) {
    const a = await call(sys.baseUrl, 'POST', `/v1/sessions/${id}/analyses`, {
      token: org.apiKey,
      body: { documentId: doc.body.id, kind: 'id_document', status, result: { mrz: markers.result } },
    });
    expect(a.status).toBe(201);
    analyses.push(a.body.id as string);
  }
  expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
  const decided = await call(sys.baseUrl, 'POST', `/v1/analyses/${analyses[0]}/decision`, {
    token: analyst.token,
    body: { newStatus: 'user_approved', comment: markers.restComment },
  });
  expect(decided.status).toBe(200);
  // As an operator does from the CLI (or the Web UI) with the codec server: the signal is
  // encoded by our API, never sent in clear.
  await cli([
    'workflow', 'signal',
    '--workflow-id', sessionWorkflowId(id),
    '--name', 'analystDecision',
    '--input', JSON.stringify({ analysisId: analyses[1], newStatus: 'user_rejected', operatorId: analyst.id, comment: markers.uiComment }),
    '--codec-endpoint', `${sys.baseUrl}/codec`,
    '--codec-auth', `Bearer ${analyst.token}`,
  ]);
  const handle = sys.client.workflow.getHandle(sessionWorkflowId(id));
  await waitUntil(() => handle.query(stateQuery), (s) => s.webhookDeliveryIds.length === 3);
  return { id, markers, linkToken: link.split('/').pop()! };
}

test('what Temporal keeps of a session is encrypted, decodes for its operators, and is shredded by the erasure', async () => {
  const org = await newOrganization(sys.db);
  await call(sys.baseUrl, 'PATCH', '/v1/settings', {
    token: org.adminToken,
    body: { sessionEndWebhookUrl: `${receiver.url}/end`, decisionWebhookUrl: `${receiver.url}/decision` },
  });
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const erased = await sessionThroughEveryPath(org, analyst, randomUUID().slice(0, 8));
  const kept = await sessionThroughEveryPath(org, analyst, randomUUID().slice(0, 8));
  const personal = (m: typeof erased.markers) => Object.values(m);

  // Before the erasure: every payload encrypted; decoded, the personal data never entered
  // Temporal; the comment typed by the operator is in its signal, nowhere else (only its id
  // continues; the activity that stores it is a local activity since PATCHES.light, and the
  // history keeps no local activity's input).
  const before = await readHistory(sys.client, sessionWorkflowId(erased.id), sys.keys);
  expect(unencryptedPayloads(before)).toEqual([]);
  for (const marker of personal(erased.markers)) expect(before.storedText).not.toContain(marker);
  for (const marker of personal(erased.markers).filter((m) => m !== erased.markers.uiComment)) expect(before.decodedText).not.toContain(marker);
  const withUiComment = before.payloads.filter((p) => JSON.stringify(p.value ?? null).includes(erased.markers.uiComment));
  expect(withUiComment.map((p) => p.eventType)).toEqual(['workflowExecutionSignaled']);

  const deleted = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${erased.id}`, { token: org.adminToken });
  expect(deleted.status).toBe(200);

  // What the server itself returns (the CLI, no codec): no personal marker in clear, not even
  // inside the payloads' base64 data.
  const { stdout } = await cli(['workflow', 'show', '--workflow-id', sessionWorkflowId(erased.id), '--output', 'json']);
  const base64Data = [...stdout.matchAll(/"data":\s*"([A-Za-z0-9+/=]*)"/g)].map((m) => Buffer.from(m[1], 'base64').toString('utf8'));
  expect(base64Data.length).toBeGreaterThan(10);
  for (const marker of personal(erased.markers)) {
    expect(stdout).not.toContain(marker);
    for (const data of base64Data) expect(data).not.toContain(marker);
  }

  // After: the session's payloads cannot be decoded ("key destroyed"), by a fresh process
  // with the master key too; the other session's still decode.
  const fresh = new DataKeyStore(sys.db, MasterKeys.fromConfig(sys.config));
  const after = await readHistory(sys.client, sessionWorkflowId(erased.id), fresh);
  const undecodable = after.payloads.filter((p) => p.error);
  expect(undecodable.length).toBeGreaterThan(10);
  for (const p of undecodable) expect(p.error).toMatch(/^key destroyed/);
  // Still readable: ids written after the purge (organization key), and the operator's own
  // signal, which the codec server encoded under the organization's key (docs/architecture.md ("Payload encryption")).
  for (const marker of personal(erased.markers).filter((m) => m !== erased.markers.uiComment)) expect(after.decodedText).not.toContain(marker);
  const other = await readHistory(sys.client, sessionWorkflowId(kept.id), fresh);
  expect(other.payloads.filter((p) => p.error)).toEqual([]);
  expect(other.decodedText).toContain(kept.id);
});

test('codec server: an operator decodes its organization\'s payloads (audited), no token is 401, another organization is refused', async () => {
  const org = await newOrganization(sys.db);
  const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  const sessionId: string = created.body.id;
  // The start event's input, as the Web UI sends it.
  const history = await sys.client.workflow.getHandle(sessionWorkflowId(sessionId)).fetchHistory();
  const input = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads!;
  const wire = {
    payloads: input.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data!).toString('base64'),
    })),
  };
  expect(Buffer.from(wire.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
  const headers = { 'x-namespace': 'default', origin: 'http://127.0.0.1:8233' };

  const decoded = await call(sys.baseUrl, 'POST', '/codec/decode', { token: analyst.token, body: wire, headers });
  expect(decoded.status).toBe(200);
  expect(decoded.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
  const plain = decoded.body.payloads[0];
  expect(Buffer.from(plain.metadata.encoding, 'base64').toString()).toBe('json/plain');
  expect(JSON.parse(Buffer.from(plain.data, 'base64').toString())).toMatchObject({ sessionId, organizationId: org.organizationId });
  const accesses = await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'temporal_payload.decode' });
  expect(accesses).toHaveLength(1);
  expect(accesses[0]).toMatchObject({ category: 'access', actor_type: 'operator', actor_id: analyst.id, resource_type: 'session', resource_id: sessionId });
  expect(accesses[0].changes).toMatchObject({ payloads: 1 });

  const preflight = await fetch(`${sys.baseUrl}/codec/decode`, {
    method: 'OPTIONS',
    headers: { origin: 'http://127.0.0.1:8233', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);

  expect((await call(sys.baseUrl, 'POST', '/codec/decode', { body: wire, headers })).status).toBe(401);
  expect((await call(sys.baseUrl, 'POST', '/codec/decode', { token: org.apiKey, body: wire, headers })).status).toBe(403);
  const other = await newOrganization(sys.db, 'Other');
  const refused = await call(sys.baseUrl, 'POST', '/codec/decode', { token: other.adminToken, body: wire, headers });
  expect(refused.status).toBe(403);
  expect(JSON.stringify(refused.body)).not.toContain(sessionId);
  // Refusals decode nothing and record no access.
  expect(await sys.db('audit_events').where({ action: 'temporal_payload.decode', resource_id: sessionId })).toHaveLength(1);

  // Encoding (a signal typed in the UI) gives a payload the worker can read back.
  const encoded = await call(sys.baseUrl, 'POST', '/codec/encode', { token: analyst.token, body: decoded.body, headers });
  expect(encoded.status).toBe(200);
  expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
  const roundTrip = await call(sys.baseUrl, 'POST', '/codec/decode', { token: analyst.token, body: encoded.body, headers });
  expect(roundTrip.body).toEqual(decoded.body);
  expectBadRequest(await call(sys.baseUrl, 'POST', '/codec/decode', { token: analyst.token, body: { payloads: [{ data: '%%%' }] }, headers }));
});

function expectBadRequest(res: { status: number }) {
  expect(res.status).toBe(400);
}

test('master key rotation: data keys and webhook secrets re-wrapped under the new master key keep working, the old master key is no longer needed', async () => {
  const oldHex = sys.config.PAYLOAD_MASTER_KEY;
  const newHex = 'cd'.repeat(32);
  const org = await newOrganization(sys.db);
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
  const { body: revealed } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
  const organizationIds = [org.organizationId];
  const workflowId = sessionWorkflowId(created.body.id);
  const beforeRotation = await readHistory(sys.client, workflowId, new DataKeyStore(sys.db, new MasterKeys(oldHex)));
  expect(beforeRotation.payloads.filter((p) => p.error)).toEqual([]);

  // Limited to this session's key: other test files share the database and the old master key.
  const scopes = [sessionScope(created.body.id)];
  const rotating = new DataKeyStore(sys.db, new MasterKeys(newHex, [oldHex]));
  expect(await rotating.rewrapAll({ scopes })).toBe(1);
  expect(await rotating.rewrapAll({ scopes })).toBe(0); // idempotent
  expect(await rewrapWebhookSecrets(sys.db, rotating.master, { organizationIds })).toBe(1);
  expect(await rewrapWebhookSecrets(sys.db, rotating.master, { organizationIds })).toBe(0);
  try {
    expect(await currentWebhookSecret(sys.db, new MasterKeys(newHex), org.organizationId)).toBe(revealed.secret);
    await expect(currentWebhookSecret(sys.db, new MasterKeys(oldHex), org.organizationId)).rejects.toThrow(/not configured/);
    const onlyNew = await readHistory(sys.client, workflowId, new DataKeyStore(sys.db, new MasterKeys(newHex)));
    expect(onlyNew.payloads.filter((p) => p.error)).toEqual([]);
    // The history may have grown since (the workflow runs on): the same payloads, the same values.
    const sealed = (h: typeof beforeRotation) => h.payloads.filter((p) => p.encrypted).map((p) => p.value);
    expect(sealed(onlyNew).slice(0, sealed(beforeRotation).length)).toEqual(sealed(beforeRotation));
    const onlyOld = await readHistory(sys.client, workflowId, new DataKeyStore(sys.db, new MasterKeys(oldHex)));
    expect(onlyOld.payloads.find((p) => p.encrypted)?.error).toMatch(/not configured/);
  } finally {
    // Back to the run's master key for the other tests of this file.
    await new DataKeyStore(sys.db, new MasterKeys(oldHex, [newHex])).rewrapAll({ scopes });
    await rewrapWebhookSecrets(sys.db, new MasterKeys(oldHex, [newHex]), { organizationIds });
  }
  expect(await currentWebhookSecret(sys.db, new MasterKeys(oldHex), org.organizationId)).toBe(revealed.secret);
});

test('a pg_dump after the erasure holds none of the session\'s markers, no link token, no webhook secret in clear; the delivery log keeps ids and outcomes', async () => {
  const org = await newOrganization(sys.db);
  receiver.respond = (req) => ({ status: 200, body: `echo ${req.body}` }); // a receiver echoing what it got
  try {
    await call(sys.baseUrl, 'PATCH', '/v1/settings', {
      token: org.adminToken,
      body: { sessionEndWebhookUrl: `${receiver.url}/end`, decisionWebhookUrl: `${receiver.url}/decision` },
    });
    const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
    const { id, markers, linkToken } = await sessionThroughEveryPath(org, analyst, randomUUID().slice(0, 8));
    const deliveries = await sys.db('webhook_deliveries').where({ session_id: id });
    await Promise.all(deliveries.map((d) => deliveryResult(sys.client, sys.db, d.id)));
    // Before: the decision deliveries and the receiver's echoes hold the correlation id.
    const echoes = await sys.db('webhook_attempts').whereIn('delivery_id', deliveries.map((d) => d.id)).pluck('response_body');
    expect(echoes.filter((b) => String(b).includes(markers.correlationId))).toHaveLength(2);

    // A live session created with an Idempotency-Key (its response is stored for 24 h), and the
    // organization's signing secrets, current and rotated out: none may sit in the dump in clear.
    const live = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {}, headers: { 'idempotency-key': `live-${randomUUID()}` } });
    expect(live.status).toBe(201);
    const liveToken = new URL(live.body.link.url).pathname.split('/').pop()!;
    const { body: oldSecret } = await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken });
    const rotated = await call(sys.baseUrl, 'POST', '/v1/settings/webhook-secret/rotate', { token: org.adminToken });
    expect(rotated.status).toBe(200);

    expect((await call(sys.baseUrl, 'DELETE', `/v1/sessions/${id}`, { token: org.adminToken })).status).toBe(200);
    const { stdout: dump } = await run('pg_dump', ['--data-only', '--no-owner', process.env.DATABASE_URL!], { maxBuffer: 512 * 1024 * 1024 });
    expect(dump).toContain(id); // the tombstone is there
    for (const marker of Object.values(markers)) expect(dump).not.toContain(marker);
    expect(dump).not.toContain(linkToken);
    expect(dump).toContain(live.body.id);
    expect(dump).not.toContain(liveToken);
    for (const secret of [oldSecret.secret, rotated.body.secret]) {
      expect(secret).toMatch(/^whsec_/);
      expect(dump).not.toContain(secret.slice('whsec_'.length));
    }

    // The delivery log after the purge: ids, statuses, attempts; no correlation id, no bodies.
    const log = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries?sessionId=${id}`, { token: org.adminToken });
    expect(log.body.data).toHaveLength(3);
    for (const d of log.body.data) {
      expect(d).toMatchObject({ status: 'succeeded', sessionId: id });
      expect(d.payload).not.toHaveProperty('correlationId');
      expect(d.attempts.map((a: { outcome: string; responseBody: string | null }) => [a.outcome, a.responseBody])).toEqual([['success', null]]);
    }
    const again = await call(sys.baseUrl, 'POST', `/v1/webhook-deliveries/${log.body.data[0].id}/redeliver`, { token: org.adminToken });
    expect(again.status).toBe(410);
  } finally {
    receiver.respond = () => ({ status: 200 });
  }
});

test('expired idempotency keys are swept by later requests, not only when reused', async () => {
  const org = await newOrganization(sys.db);
  const stale = { organization_id: org.organizationId, scope: 'POST /v1/sessions', key: `stale-${randomUUID()}`, request_hash: 'x' };
  await sys.db('idempotency_keys').insert({ ...stale, response_status: 201, response_body: JSON.stringify({ link: { url: 'http://x/v1/journey/secret-token' } }), created_at: new Date(Date.now() - 25 * 3600_000) });
  const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {}, headers: { 'idempotency-key': `fresh-${randomUUID()}` } });
  expect(created.status).toBe(201);
  expect(await sys.db('idempotency_keys').where({ key: stale.key })).toHaveLength(0);
});
