import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Db } from '../../src/db/knex';
import { addSessionAnalysis, createSession, SessionDeps } from '../../src/sessions/sessions';
import { workflowBundle } from '../../src/temporal/worker';
import { dataConverter } from '../../src/payloads/dataConverter';
import { DataKeyStore, MasterKeys } from '../../src/payloads/keyStore';
import { analystDecisionSignal, completeJourneyUpdate, openLinkUpdate, sessionWorkflowId } from '../../workflows/definitions';
import { newOrganization } from '../support/system';
import { startTimeSkippingSystem, type TimeSkippingSystem } from '../support/timeSkipping';

// The security branch's workflow change (patched('security-signal-provenance')): a decision
// signalled through Temporal is stamped `via: temporal` before the recording activity, and
// its history replays against this code. Payloads are encrypted with per-record data keys
// held in this run's database, so the history is replayed here with that data converter; a
// committed fixture (security-*.bin, CAPTURE_HISTORIES=1, never over an existing file) would
// need its data keys too.
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'histories', 'security-signal-provenance.bin');
const { History } = temporal.api.history.v1;
const DAY_MS = 24 * 60 * 60 * 1000;

let sys: TimeSkippingSystem;
let env: TestWorkflowEnvironment;
let db: Db;

beforeAll(async () => {
  sys = await startTimeSkippingSystem();
  ({ env, db } = sys);
});
afterAll(async () => {
  await sys?.stop();
});

test('a signalled decision is recorded via temporal, and its history replays', async () => {
  const deps: SessionDeps = { db, temporal: env.client, taskQueue: sys.config.TEMPORAL_TASK_QUEUE, publicBaseUrl: 'http://kyc.test', auditKey: sys.config.AUDIT_HMAC_KEY };
  const org = await newOrganization(db);
  const session = await createSession(deps, org.asApiKey, {}, new Date(await env.currentTimeMs()));
  const handle = env.client.workflow.getHandle(sessionWorkflowId(session.id));
  await handle.executeUpdate(openLinkUpdate);
  const analysis = await addSessionAnalysis(db, org.organizationId, session.id, { kind: 'id', status: 'verify' });
  await handle.executeUpdate(completeJourneyUpdate);
  // The signal claims to come from the API (a commentId, a via of its own): the ledger still names the door.
  await handle.signal(analystDecisionSignal, { analysisId: analysis.id, newStatus: 'user_rejected', operatorId: org.adminId, via: 'api' } as never);
  await env.sleep(DAY_MS);
  const event = await db('audit_events').where({ organization_id: org.organizationId, action: 'analysis.decision' }).first();
  expect(event?.changes).toMatchObject({ via: 'temporal', status: { after: 'user_rejected' } });

  const history = await handle.fetchHistory();
  if (process.env.CAPTURE_HISTORIES === '1' && !fs.existsSync(FIXTURE)) fs.writeFileSync(FIXTURE, History.encode(history).finish());
  const failures: string[] = [];
  const converter = dataConverter(new DataKeyStore(db, MasterKeys.fromConfig(sys.config)));
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), dataConverter: converter }, [{ workflowId: 'security-signal-provenance', history }])) {
    if (result.error) failures.push(result.error.message);
  }
  expect(failures).toEqual([]);
});
