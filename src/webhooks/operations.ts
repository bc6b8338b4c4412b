import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import { appendAuditEvent, type AuditActor, type AuditContext } from '../audit/ledger';
import { problems } from '../api/problem';
import { webhookHeaders, webhookIdForDelivery } from '../domain/webhookSignature';
import { activeWebhookSecrets, getSettings } from '../settings/settings';
import { startDeliveryWorkflow } from '../../activities/webhooks';
import { webhookWorkflowId } from '../../workflows/definitions';
import { getDeliveryView, recordAttempt, recordDelivery, type DeliveryRow, type DeliveryView } from './deliveries';
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
    const described = await temporal.workflow.getHandle(webhookWorkflowId(deliveryId, series)).describe();
    return described.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * Starts a new attempt series of a delivery under the same webhook-id (so receivers
 * deduplicate), with the whole retry schedule. 409 while the current series still runs.
 */
export async function redeliverWebhook(deps: RedeliverDeps, action: OperatorAction, deliveryId: string): Promise<DeliveryView> {
  await deps.db.transaction(async (trx) => {
    const row = await trx<DeliveryRow>('webhook_deliveries')
      .where({ id: deliveryId, organization_id: action.organizationId })
      .forUpdate()
      .first();
    if (!row) throw problems.notFound('webhook delivery');
    if (row.event === 'test') throw problems.conflict('test deliveries are not redelivered: send a new test instead');
    if (row.status === 'pending' && (await seriesStillRunning(deps.temporal, row.id, row.current_series))) {
      throw problems.conflict(`attempt series ${row.current_series} of this delivery is still pending; redeliver once it has ended`);
    }
    const series = row.current_series + 1;
    await trx('webhook_deliveries')
      .where({ id: row.id })
      .update({ current_series: series, status: 'pending', next_attempt_at: null, updated_at: trx.fn.now() });
    await appendAuditEvent(trx, deps.hmacKey, {
      organizationId: action.organizationId,
      actor: action.actor,
      action: 'webhook_delivery.redeliver',
      category: 'modification',
      resource: { type: 'webhook_delivery', id: row.id },
      changes: { series: { before: row.current_series, after: series }, status: { before: row.status, after: 'pending' } },
      outcome: 'success',
      ...action.context,
    });
    // Last, inside the transaction: if Temporal refuses the start, nothing above is kept.
    await startDeliveryWorkflow(deps.temporal, {
      input: { deliveryId: row.id, organizationId: action.organizationId, series, retryDelaysSeconds: deps.retryDelaysSeconds },
      taskQueue: deps.taskQueue,
      summary: `${row.event} webhook redelivery #${series - 1}${row.session_id ? ` for session ${row.session_id}` : ''}`,
    });
  });
  return (await getDeliveryView(deps.db, action.organizationId, deliveryId)) as DeliveryView;
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
  const secrets = await activeWebhookSecrets(deps.db, action.organizationId, now);
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
