import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Db } from '../../src/db/knex';
import { addSessionAnalysis, createSession, SessionDeps } from '../../src/sessions/sessions';
import { updateSettings } from '../../src/settings/settings';
import { workflowBundle } from '../../src/temporal/worker';
import {
  analysisStateQuery,
  analysisWorkflowId,
  analystDecisionSignal,
  completeJourneyUpdate,
  decideUpdate,
  eraseUpdate,
  openLinkUpdate,
  sessionWorkflowId,
  stateQuery,
  webhookWorkflowId,
} from '../../workflows/definitions';
import { DataKeyStore } from '../../src/payloads/keyStore';
import { decodeHistoryInPlace } from '../support/history';
import { hasDeliveryWorkflow } from '../support/webhooks';
import { WebhookReceiver } from '../support/receiver';
import { newOrganization, waitUntil } from '../support/system';
import { createStandaloneAnalysis } from '../../src/analyses/analyses';
import { changeSettings } from '../../src/settings/changeSettings';
import { startTimeSkippingSystem, type TimeSkippingSystem } from '../support/timeSkipping';

// Determinism guard. Histories of every workflow path (expiry, completion, decisions by update
// and by signal, retention purge, erasure, webhook retries) must replay against the current
// code: those produced now, and those committed in test/fixtures/histories by earlier versions.
// CAPTURE_HISTORIES=1 CAPTURE_PREFIX=<branch>- npx jest test/workflows/replay adds fixtures, never overwriting one.
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'histories');
// Binary protobuf: exact, and independent of JSON conventions across SDK versions.
const { History } = temporal.api.history.v1;
const DAY_MS = 24 * 60 * 60 * 1000;

let sys: TimeSkippingSystem;
let env: TestWorkflowEnvironment;
let db: Db;
let deps: SessionDeps;
let receiver: WebhookReceiver;
const produced: { name: string; workflowId: string }[] = [];

beforeAll(async () => {
  // The purges destroy the sessions' keys; this test keeps every key it used in memory (a
  // production process cannot) so that it can still decode and replay the purged histories.
  sys = await startTimeSkippingSystem({ WEBHOOK_RETRY_DELAYS_SECONDS: '60,600' }, { keys: (d, m) => new KeepingKeyStore(d, m, { cacheTtlMs: DAY_MS }) });
  ({ env, db } = sys);
  deps = { db, temporal: env.client, taskQueue: sys.config.TEMPORAL_TASK_QUEUE, publicBaseUrl: 'http://kyc.test', auditKey: sys.config.AUDIT_HMAC_KEY };
  receiver = await new WebhookReceiver().start();
  await runScenarios();
});

afterAll(async () => {
  await sys?.stop();
  await receiver?.stop();
});

async function runScenarios(): Promise<void> {
  const org = await newOrganization(db);
  await updateSettings(db, org.organizationId, {
    sessionEndWebhookUrl: `${receiver.url}/session-end`,
    decisionWebhookUrl: `${receiver.url}/decision`,
    dataRetention: '30d',
  });
  let failures = 1;
  receiver.respond = () => (failures-- > 0 ? { status: 503, headers: { 'retry-after': '120' } } : { status: 200 });
  const start = async (body: { linkExpiry?: string } = {}) => {
    const session = await createSession(deps, org.asApiKey, body, new Date(await env.currentTimeMs()));
    return { session, handle: env.client.workflow.getHandle(sessionWorkflowId(session.id)) };
  };

  // Expiry, then the retention purge 30 days after creation.
  const expired = await start({ linkExpiry: '10m' });
  await env.sleep(11 * 60 * 1000);
  produced.push({ name: 'session-expired', workflowId: sessionWorkflowId(expired.session.id) });

  // Completion, a webhook retried after a 503, two decisions, then the purge.
  const decided = await start();
  await decided.handle.executeUpdate(openLinkUpdate);
  const analysis = await addSessionAnalysis(db, org.organizationId, decided.session.id, { kind: 'id', status: 'verify' });
  await decided.handle.executeUpdate(completeJourneyUpdate);
  const outcome = await decided.handle.executeUpdate(decideUpdate, {
    args: [{ analysisId: analysis.id, newStatus: 'user_approved', operatorId: org.adminId }],
  });
  expect(outcome).toMatchObject({ accepted: true, changed: true });
  await decided.handle.signal(analystDecisionSignal, { analysisId: analysis.id, newStatus: 'user_rejected', operatorId: org.adminId });
  await env.sleep(31 * DAY_MS);
  const final = await decided.handle.result();
  expect(final.status).toBe('purged');
  produced.push({ name: 'session-decided-purged', workflowId: sessionWorkflowId(decided.session.id) });
  // Only a delivery whose first attempt (the session's own activity) failed has a workflow:
  // here the session-end one (the 503), which goes on at attempt 2.
  const retried: string[] = [];
  for (const deliveryId of final.webhookDeliveryIds) {
    if (await hasDeliveryWorkflow(env.client, deliveryId)) retried.push(deliveryId);
  }
  expect(retried).toHaveLength(1);
  for (const [i, deliveryId] of retried.entries()) {
    produced.push({ name: `webhook-${i}`, workflowId: webhookWorkflowId(deliveryId, 1) });
  }

  // Erasure mid-journey.
  const erased = await start();
  await erased.handle.executeUpdate(openLinkUpdate);
  await erased.handle.executeUpdate(eraseUpdate, { args: [{ operatorId: org.adminId }] });
  expect((await erased.handle.result()).status).toBe('purged');
  produced.push({ name: 'session-erased', workflowId: sessionWorkflowId(erased.session.id) });

  // Malformed signals (refused and audited), then erasure; and a cancel request (purges).
  const refused = await start();
  await refused.handle.signal('analystDecision', null);
  await refused.handle.signal('retentionChanged', { dataRetention: 'forever' });
  await waitUntil(() => db('audit_events').where({ organization_id: org.organizationId, outcome: 'failure' }), (rows) => rows.length >= 2);
  await refused.handle.executeUpdate(eraseUpdate, { args: [{ operatorId: org.adminId }] });
  expect((await refused.handle.result()).status).toBe('purged');
  produced.push({ name: 'session-refused-erased', workflowId: sessionWorkflowId(refused.session.id) });
  const cancelled = await start();
  await cancelled.handle.cancel();
  expect((await cancelled.handle.result()).status).toBe('purged');
  produced.push({ name: 'session-cancelled', workflowId: sessionWorkflowId(cancelled.session.id) });

  // A standalone analysis, decided, then re-armed by a retention change (and the re-arm itself).
  const analysisDeps = { db, temporal: env.client, taskQueue: deps.taskQueue, auditKey: deps.auditKey };
  const standalone = await createStandaloneAnalysis(analysisDeps, org.asApiKey, { kind: 'kbis', status: 'verify' }, new Date(await env.currentTimeMs()));
  const standaloneHandle = env.client.workflow.getHandle(analysisWorkflowId(standalone.id));
  await standaloneHandle.executeUpdate(decideUpdate, { args: [{ analysisId: standalone.id, newStatus: 'user_approved', operatorId: org.adminId }] });
  const change = await changeSettings(analysisDeps, { organizationId: org.organizationId, actor: { type: 'operator', id: org.adminId } }, { dataRetention: '60d' });
  await env.client.workflow.getHandle(change.rearm!.workflowId).result();
  await waitUntil(() => standaloneHandle.query(analysisStateQuery), (s) => s.purgeAt !== null && Date.parse(s.purgeAt) - Date.parse(standalone.createdAt) === 60 * DAY_MS);
  produced.push({ name: 'analysis-decided-rearmed', workflowId: analysisWorkflowId(standalone.id) });
  produced.push({ name: 'retention-rearm', workflowId: change.rearm!.workflowId });

  // The reconciler: a completed session whose workflow was terminated is restarted from its record.
  const lost = await start();
  await lost.handle.executeUpdate(completeJourneyUpdate);
  await waitUntil(() => lost.handle.query(stateQuery), (s) => s.webhookDeliveryIds.length === 1);
  await lost.handle.terminate('lost by hand');
  const reconcileId = `reconcile-replay-${org.organizationId}`;
  const repaired = await env.client.workflow.execute('reconcile', {
    taskQueue: deps.taskQueue,
    workflowId: reconcileId,
    args: [{ organizationIds: [org.organizationId], pendingGraceSeconds: 0, deliveryGraceSeconds: 0 }],
  });
  expect(repaired).toMatchObject({ restarted: 1 });
  expect(await lost.handle.query(stateQuery)).toMatchObject({ status: 'completed' });
  produced.push({ name: 'rel-recon-session-restored', workflowId: sessionWorkflowId(lost.session.id) });
  produced.push({ name: 'rel-recon-reconcile', workflowId: reconcileId });
}

class KeepingKeyStore extends DataKeyStore {
  override forget(): void {}
}

/** Histories with their payloads decoded: replayable without keys, and storable as fixtures. */
async function historiesOf(items: { name: string; workflowId: string }[]) {
  return Promise.all(
    items.map(async ({ name, workflowId }) => {
      const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
      await decodeHistoryInPlace(history, sys.keys);
      return { name, workflowId, history };
    }),
  );
}

test('histories of every workflow path replay without determinism errors', async () => {
  const histories = await historiesOf(produced);
  expect(histories.map((h) => h.name)).toEqual(
    expect.arrayContaining(['session-expired', 'session-decided-purged', 'session-erased', 'webhook-0', 'analysis-decided-rearmed', 'retention-rearm']),
  );
  // Fixtures are append-only: capture writes `<CAPTURE_PREFIX><name>.bin` and never overwrites
  // (old workflow versions must keep replaying).
  if (process.env.CAPTURE_HISTORIES === '1') {
    fs.mkdirSync(FIXTURES, { recursive: true });
    const prefix = process.env.CAPTURE_PREFIX ?? '';
    for (const h of histories) {
      const file = path.join(FIXTURES, `${prefix}${h.name}.bin`);
      if (!fs.existsSync(file)) fs.writeFileSync(file, History.encode(h.history).finish(), { flag: 'wx' });
    }
  }
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
});

test('histories committed by earlier versions replay against this code', async () => {
  const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.bin'));
  expect(files.length).toBeGreaterThanOrEqual(8);
  const histories = files.map((f) => ({
    workflowId: f.replace(/\.bin$/, ''),
    history: History.decode(fs.readFileSync(path.join(FIXTURES, f))),
  }));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
});
