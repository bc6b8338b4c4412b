import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import { appendAuditEvent, type AuditActor, type AuditContext } from '../audit/ledger';
import { problems } from '../api/problem';
import { webhookHeaders, webhookIdForDelivery } from '../domain/webhookSignature';
import { activeWebhookSecrets, getSettings } from '../settings/settings';
import type { MasterKeys } from '../payloads/keyStore';
import { startDeliveryWorkflow } from '../../activities/webhooks';
import { startDeadline, withCallDeadline } from '../temporal/deadlines';
import { webhookWorkflowId } from '../../workflows/definitions';
import { deliveryRecordPurged, getDeliveryView, recordAttempt, recordDelivery, type DeliveryRow, type DeliveryView } from './deliveries';
import { sendWebhookRequest, type WebhookAttemptResult } from './sendWebhookRequest';

// Operator actions on webhooks, called by the API: redeliver an event, send a test.

export interface OperatorAction {
  organizationId: string;
  actor: AuditActor;
  context: AuditContext;
}

export interface RedeliverDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  retryDelaysSeconds: number[];
  hmacKey: string;
}

async function seriesStillRunning(temporal: Client, deliveryId: string, series: number): Promise<boolean> {
  try {
    const described = await withCallDeadline(temporal, () => temporal.workflow.getHandle(webhookWorkflowId(deliveryId, series)).describe());
    return described.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * Starts a new attempt series of a delivery under the same webhook-id (so receivers
 * deduplicate), with the whole retry schedule. 409 while the current series still runs.
 * Temporal is asked before and called after the transaction, never inside it.
 */
export async function redeliverWebhook(deps: RedeliverDeps, action: OperatorAction, deliveryId: string): Promise<DeliveryView> {
  const row = await deps.db<DeliveryRow>('webhook_deliveries').where({ id: deliveryId, organization_id: action.organizationId }).first();
  if (!row) throw problems.notFound('webhook delivery');
  if (row.event === 'test') throw problems.conflict('test deliveries are not redelivered: send a new test instead');
  // docs/webhooks.md: after a purge the log keeps ids and outcomes only; the event is not re-sent.
  if (await deliveryRecordPurged(deps.db, row)) throw problems.gone('the session or analysis of this delivery was purged: its event is no longer redelivered');
  if (row.status === 'pending') {
    const running = await seriesStillRunning(deps.temporal, row.id, row.current_series).catch(() => {
      throw problems.unavailable('Temporal is unreachable, so the delivery cannot be redelivered now; nothing was changed');
    });
    if (running) throw problems.conflict(`attempt series ${row.current_series} of this delivery is still pending; redeliver once it has ended`);
  }
  const started = await openAttemptSeries(deps, row, {
    organizationId: action.organizationId,
    actor: action.actor,
    context: action.context,
    action: 'webhook_delivery.redeliver',
    summary: `${row.event} webhook redelivery #${row.current_series}${row.session_id ? ` for session ${row.session_id}` : ''}`,
  });
  if (!started.started) {
    throw problems.unavailable(`Temporal is unreachable: redelivery (series ${started.series}) is recorded and starts once Temporal is back`);
  }
  return (await getDeliveryView(deps.db, action.organizationId, deliveryId)) as DeliveryView;
}

/**
 * Opens the next attempt series of `seen` (the row as the caller read it) and starts its
 * workflow after the commit. The series number only moves if nobody else moved it since
 * (409 otherwise). Returns whether Temporal took the start; if not, the delivery is pending
 * without a workflow, which the reconciler resumes.
 */
export async function openAttemptSeries(
  deps: RedeliverDeps,
  seen: Pick<DeliveryRow, 'id' | 'current_series' | 'status' | 'event' | 'session_id'>,
  audit: OperatorAction & { action: 'webhook_delivery.redeliver' | 'webhook_delivery.resume'; summary: string },
): Promise<{ series: number; started: boolean }> {
  const series = seen.current_series + 1;
  await deps.db.transaction(async (trx) => {
    const moved = await trx('webhook_deliveries')
      .where({ id: seen.id, current_series: seen.current_series, status: seen.status })
      .update({ current_series: series, status: 'pending', next_attempt_at: null, updated_at: trx.fn.now() });
    if (moved === 0) throw problems.conflict('this delivery changed meanwhile; read it again');
    await appendAuditEvent(trx, deps.hmacKey, {
      organizationId: audit.organizationId,
      actor: audit.actor,
      action: audit.action,
      category: 'modification',
      resource: { type: 'webhook_delivery', id: seen.id },
      changes: { series: { before: seen.current_series, after: series }, status: { before: seen.status, after: 'pending' } },
      outcome: 'success',
      ...audit.context,
    });
  });
  try {
    await deps.temporal.withDeadline(startDeadline(deps.temporal), () =>
      startDeliveryWorkflow(deps.temporal, {
        input: { deliveryId: seen.id, organizationId: audit.organizationId, series, retryDelaysSeconds: deps.retryDelaysSeconds },
        taskQueue: deps.taskQueue,
        summary: audit.summary,
      }),
    );
    return { series, started: true };
  } catch {
    return { series, started: false };
  }
}

export type TestEndpoint = 'session_end' | 'decision';

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** The endpoint's real payload shape with the nil UUID for every id: a receiver can tell a test. */
export function samplePayload(endpoint: TestEndpoint): Record<string, unknown> {
  if (endpoint === 'decision') {
    return { analysisId: NIL_UUID, entityId: NIL_UUID, correlationId: null, sessionId: NIL_UUID, newStatus: 'user_approved' };
  }
  return { sessionId: NIL_UUID, newStatus: 'ai_approved' };
}

export interface TestSendDeps {
  db: Db;
  /** Unseals the signing secrets. */
  master: MasterKeys;
  hmacKey: string;
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  send?: typeof sendWebhookRequest;
}

export interface TestSendResult {
  deliveryId: string;
  webhookId: string;
  endpoint: TestEndpoint;
  url: string;
  outcome: WebhookAttemptResult['outcome'];
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

/**
 * Sends a signed sample to the endpoint's configured URL now, through the same guarded
 * sender as real deliveries, and records it (event `test`, one attempt, no retries).
 */
export async function sendTestWebhook(deps: TestSendDeps, action: OperatorAction, endpoint: TestEndpoint): Promise<TestSendResult> {
  const settings = await getSettings(deps.db, action.organizationId);
  const field = endpoint === 'decision' ? 'decisionWebhookUrl' : 'sessionEndWebhookUrl';
  const url = settings[field];
  if (!url) throw problems.conflict(`no ${endpoint} webhook URL is configured: set ${field} with PATCH /v1/settings first`);

  const payload = samplePayload(endpoint);
  const delivery = await recordDelivery(deps.db, {
    organizationId: action.organizationId,
    event: 'test',
    eventKey: `test:${randomUUID()}`,
    sessionId: null,
    analysisId: null,
    payload,
  });
  const webhookId = webhookIdForDelivery(delivery.id);
  const body = JSON.stringify(payload);
  const now = new Date();
  const secrets = await activeWebhookSecrets(deps.db, deps.master, action.organizationId, now);
  const result = await (deps.send ?? sendWebhookRequest)({
    url,
    headers: webhookHeaders({ secrets, webhookId, timestamp: Math.floor(now.getTime() / 1000), body }),
    body,
    timeoutMs: deps.timeoutMs,
    allowPrivateNetworks: deps.allowPrivateNetworks,
  });
  const durationMs = Math.round(result.durationMs);
  await recordAttempt(
    deps.db,
    {
      delivery_id: delivery.id,
      series: 1,
      attempt_no: 1,
      attempted_at: now,
      url,
      outcome: result.outcome,
      status_code: result.statusCode,
      duration_ms: durationMs,
      error: result.error,
      response_body: result.responseBody,
    },
    result.outcome === 'success' ? 'succeeded' : 'failed',
  );
  await appendAuditEvent(deps.db, deps.hmacKey, {
    organizationId: action.organizationId,
    actor: action.actor,
    action: 'webhook.test',
    category: 'creation',
    resource: { type: 'webhook_delivery', id: delivery.id },
    changes: { endpoint, outcome: result.outcome, statusCode: result.statusCode },
    outcome: 'success',
    ...action.context,
  });
  return {
    deliveryId: delivery.id,
    webhookId,
    endpoint,
    url,
    outcome: result.outcome,
    statusCode: result.statusCode,
    durationMs,
    error: result.error,
    responseBody: result.responseBody,
  };
}
