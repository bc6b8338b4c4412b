import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Db } from '../src/db/knex';
import { OrganizationId } from '../src/temporal/searchAttributes';
import { webhookWorkflowId, type WebhookDeliveryInput } from '../workflows/definitions';
import { webhookHeaders, webhookIdForDelivery } from '../src/domain/webhookSignature';
import { activeWebhookSecrets, getSettings } from '../src/settings/settings';
import { deleteExpiredWebhookSecrets } from '../src/webhooks/secretRotation';
import { MasterKeys } from '../src/payloads/keyStore';
import { appendAuditEvent } from '../src/audit/ledger';
import { log } from '../src/log';
import {
  DeliveryRow,
  NewDelivery,
  findAttempt,
  findDelivery,
  recordAttempt,
  recordDelivery,
  setDeliveryStatus,
} from '../src/webhooks/deliveries';
import type { WebhookAttemptResult } from '../src/webhooks/sendWebhookRequest';

export interface WebhookDeps {
  db: Db;
  temporal: Client;
  send: (input: {
    url: string;
    headers: Record<string, string>;
    body: string;
    timeoutMs: number;
    allowPrivateNetworks: boolean;
  }) => Promise<WebhookAttemptResult>;
  /** The time of an attempt: its webhook-timestamp, its log entry, which secrets still sign. */
  clock?: () => Date;
  config: {
    WEBHOOK_TIMEOUT_MS: number;
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: boolean;
    WEBHOOK_RETRY_DELAYS_SECONDS: number[];
    AUDIT_HMAC_KEY: string;
    /** Unseals the organization's signing secrets. */
    PAYLOAD_MASTER_KEY: string;
    PAYLOAD_MASTER_KEY_PREVIOUS?: string[];
  };
}

export interface AttemptSummary {
  outcome: 'success' | 'failure' | 'refused' | 'skipped';
  statusCode: number | null;
  error: string | null;
  retryAfterSeconds: number | null;
  /** 410 Gone: the receiver asks us to stop. */
  stopRetrying: boolean;
}

export interface AttemptInput {
  deliveryId: string;
  series: number;
  attemptNo: number;
  /** The schedule's wait after this attempt if it fails; null after the last one. */
  nextDelaySeconds?: number | null;
}

export interface MarkFailedInput {
  deliveryId: string;
  reason: 'gone' | 'exhausted';
  /** Absent in histories recorded before series were passed: then series 1. */
  series?: number;
  attempts?: number;
}

/**
 * What the inline first attempt led to: the delivery ended (succeeded, skipped, failed), its
 * workflow took over the retries (retrying), or a newer series owns it (superseded).
 */
export interface InlineDeliveryResult {
  deliveryId: string;
  outcome: 'succeeded' | 'skipped' | 'failed' | 'retrying' | 'superseded';
}

// Ledger checkpoints go with decisions (the back-office events), else to the session-end URL.
const urlFor = (event: string, s: { sessionEndWebhookUrl: string | null; decisionWebhookUrl: string | null }) =>
  event === 'decision' ? s.decisionWebhookUrl : event === 'audit_checkpoint' ? (s.decisionWebhookUrl ?? s.sessionEndWebhookUrl) : s.sessionEndWebhookUrl;

export function createWebhookActivities({ db, temporal, send, config, clock = () => new Date() }: WebhookDeps) {
  const master = MasterKeys.fromConfig(config);
  /**
   * One attempt of one delivery: the only code that signs and sends a webhook (the delivery
   * workflow's activity and the inline first attempt both call it). The (delivery, series,
   * attemptNo) row makes it idempotent: called again, it returns the recorded outcome instead
   * of sending again.
   */
  async function attempt(input: AttemptInput): Promise<AttemptSummary> {
    const previous = await findAttempt(db, input.deliveryId, input.series, input.attemptNo);
    if (previous) return summarize(previous.outcome, previous.status_code, previous.error, null);

    const delivery = await findDelivery(db, input.deliveryId);
    if (!delivery) throw ApplicationFailure.nonRetryable(`webhook delivery ${input.deliveryId} not found`, 'NotFound');
    const settings = await getSettings(db, delivery.organization_id);
    // Read at every attempt so that fixing a wrong URL lets pending retries succeed.
    const url = urlFor(delivery.event, settings);
    const attemptedAt = clock();
    const base = { delivery_id: delivery.id, series: input.series, attempt_no: input.attemptNo, attempted_at: attemptedAt };
    const logFields = { deliveryId: delivery.id, event: delivery.event, series: input.series, attemptNo: input.attemptNo };

    if (!url) {
      await recordAttempt(
        db,
        { ...base, url: null, outcome: 'skipped', status_code: null, duration_ms: 0, error: 'no webhook URL configured', response_body: null },
        'skipped',
      );
      log.info('webhook attempt', { ...logFields, outcome: 'skipped' });
      return summarize('skipped', null, 'no webhook URL configured', null);
    }

    const body = JSON.stringify(delivery.payload);
    // Inside its 24 h overlap a rotated-out secret still signs: two signatures in one header.
    const secrets = await activeWebhookSecrets(db, master, delivery.organization_id, attemptedAt);
    // Sign-time sweep, as for idempotency keys: a secret past its overlap leaves the database.
    await deleteExpiredWebhookSecrets(db, { organizationId: delivery.organization_id, now: attemptedAt });
    const headers = webhookHeaders({
      secrets,
      webhookId: webhookIdForDelivery(delivery.id),
      timestamp: Math.floor(attemptedAt.getTime() / 1000),
      body,
    });
    const result = await send({
      url,
      headers,
      body,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      allowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    });
    await recordAttempt(
      db,
      {
        ...base,
        url,
        outcome: result.outcome,
        status_code: result.statusCode,
        duration_ms: Math.round(result.durationMs),
        error: result.error,
        response_body: result.responseBody,
      },
      result.outcome === 'success' ? 'succeeded' : 'pending',
      nextAttemptAt(attemptedAt, result, input.nextDelaySeconds ?? null),
    );
    log.info('webhook attempt', {
      ...logFields,
      outcome: result.outcome,
      statusCode: result.statusCode,
      durationMs: Math.round(result.durationMs),
      error: result.error,
    });
    return summarize(result.outcome, result.statusCode, result.error, result.retryAfterSeconds);
  }

  /**
   * The series ended without a 2xx: the schedule ran out, or the receiver answered 410.
   * Recorded in the audit ledger as a system action, once per series (idempotency key).
   */
  async function markFailed(input: MarkFailedInput): Promise<void> {
    const series = input.series ?? 1;
    await db.transaction(async (trx) => {
      const delivery = await trx<DeliveryRow>('webhook_deliveries').where({ id: input.deliveryId }).forUpdate().first();
      if (!delivery) throw ApplicationFailure.nonRetryable(`webhook delivery ${input.deliveryId} not found`, 'NotFound');
      // A newer series (a redelivery) owns the status now; this one has nothing to change.
      if (!(await setDeliveryStatus(trx, input.deliveryId, 'failed', series))) return;
      await appendAuditEvent(trx, config.AUDIT_HMAC_KEY, {
        organizationId: delivery.organization_id,
        actor: { type: 'system', id: 'webhook-delivery', label: 'webhook delivery' },
        action: input.reason === 'exhausted' ? 'webhook_delivery.exhausted' : 'webhook_delivery.gone',
        category: 'modification',
        resource: { type: 'webhook_delivery', id: input.deliveryId },
        changes: {
          status: { before: delivery.status, after: 'failed' },
          reason: input.reason,
          series,
          attempts: input.attempts ?? null,
        },
        outcome: 'success',
        idempotencyKey: `${input.reason}:${input.deliveryId}:${series}`,
      });
    });
    log.warn('webhook delivery failed', { deliveryId: input.deliveryId, series, reason: input.reason });
  }

  /**
   * The first attempt of series 1, made by the activity that recorded or started the delivery;
   * only if it does not end the delivery (a failure with retries left) is the delivery
   * workflow started, at attempt 2 after the schedule's first wait. Idempotent: a retry finds
   * the attempt row and starts the same workflow id. A delivery whose series moved on (the
   * reconciler or a redelivery opened series 2 meanwhile) is left to that series.
   */
  async function firstAttemptThenWorkflow(row: DeliveryRow, taskQueue: string): Promise<InlineDeliveryResult> {
    const delays = config.WEBHOOK_RETRY_DELAYS_SECONDS;
    if (row.current_series !== 1) return { deliveryId: row.id, outcome: 'superseded' };
    const first = await attempt({ deliveryId: row.id, series: 1, attemptNo: 1, nextDelaySeconds: delays[0] ?? null });
    if (first.outcome === 'success') return { deliveryId: row.id, outcome: 'succeeded' };
    if (first.outcome === 'skipped') return { deliveryId: row.id, outcome: 'skipped' };
    if (first.stopRetrying || delays.length === 0) {
      await markFailed({ deliveryId: row.id, reason: first.stopRetrying ? 'gone' : 'exhausted', series: 1, attempts: 1 });
      return { deliveryId: row.id, outcome: 'failed' };
    }
    const now = await findDelivery(db, row.id);
    if (!now || now.current_series !== 1) return { deliveryId: row.id, outcome: 'superseded' };
    await startDeliveryWorkflow(temporal, {
      input: {
        deliveryId: row.id,
        organizationId: row.organization_id,
        series: 1,
        retryDelaysSeconds: delays,
        firstAttemptNo: 2,
        firstWaitSeconds: Math.max(delays[0], first.retryAfterSeconds ?? 0),
      },
      taskQueue,
      summary: `${row.event} webhook${row.session_id ? ` for session ${row.session_id}` : ''}: retries after attempt 1`,
    });
    return { deliveryId: row.id, outcome: 'retrying' };
  }

  return {
    /**
     * Records the event's delivery and starts its own workflow (`webhook-<deliveryId>`), not a
     * child: days of retries never hold the session's history open, and the delivery is
     * still visible and searchable in the Web UI. Both steps are idempotent.
     */
    async dispatchWebhook(d: NewDelivery): Promise<{ deliveryId: string }> {
      const row = await recordDelivery(db, d);
      await startDeliveryWorkflow(temporal, {
        input: { deliveryId: row.id, organizationId: d.organizationId, series: 1, retryDelaysSeconds: config.WEBHOOK_RETRY_DELAYS_SECONDS },
        taskQueue: Context.current().info.taskQueue,
        summary: `${d.event} webhook${d.sessionId ? ` for session ${d.sessionId}` : ''}`,
      });
      return { deliveryId: row.id };
    },

    /**
     * Starts the delivery workflow of a delivery already recorded (the decision outbox): only
     * its id crosses Temporal. Idempotent like `dispatchWebhook`.
     */
    async startWebhookDelivery(input: { deliveryId: string }): Promise<{ deliveryId: string }> {
      const row = await findDelivery(db, input.deliveryId);
      if (!row) throw ApplicationFailure.nonRetryable(`webhook delivery ${input.deliveryId} not found`, 'DeliveryNotFound');
      await startDeliveryWorkflow(temporal, {
        input: { deliveryId: row.id, organizationId: row.organization_id, series: 1, retryDelaysSeconds: config.WEBHOOK_RETRY_DELAYS_SECONDS },
        taskQueue: Context.current().info.taskQueue,
        summary: `${row.event} webhook${row.session_id ? ` for session ${row.session_id}` : ''}`,
      });
      return { deliveryId: row.id };
    },

    /**
     * `dispatchWebhook` with the first attempt made here (patched session workflows): records
     * the delivery, sends attempt 1, and starts the `webhookDelivery` workflow only if that
     * attempt failed with retries left. A delivery that succeeds at once has no workflow.
     */
    async sendWebhook(d: NewDelivery): Promise<InlineDeliveryResult> {
      const row = await recordDelivery(db, d);
      return firstAttemptThenWorkflow(row, Context.current().info.taskQueue);
    },

    /** `startWebhookDelivery` with the first attempt made here (the decision outbox). */
    async sendRecordedWebhook(input: { deliveryId: string }): Promise<InlineDeliveryResult> {
      const row = await findDelivery(db, input.deliveryId);
      if (!row) throw ApplicationFailure.nonRetryable(`webhook delivery ${input.deliveryId} not found`, 'DeliveryNotFound');
      return firstAttemptThenWorkflow(row, Context.current().info.taskQueue);
    },

    /**
     * One attempt of one delivery. The (delivery, series, attemptNo) row makes it
     * idempotent: a retried activity returns the recorded outcome instead of sending again.
     */
    async attemptWebhookDelivery(input: AttemptInput): Promise<AttemptSummary> {
      return attempt(input);
    },

    /**
     * The series ended without a 2xx: the schedule ran out, or the receiver answered 410.
     * Recorded in the audit ledger as a system action, once per series (idempotency key).
     */
    async markWebhookDeliveryFailed(input: MarkFailedInput): Promise<void> {
      return markFailed(input);
    },
  };
}

/** When the next attempt of a failed one is due, as the workflow will wait; null if none. */
function nextAttemptAt(attemptedAt: Date, result: WebhookAttemptResult, nextDelaySeconds: number | null): Date | null {
  if (result.outcome === 'success' || result.statusCode === 410 || nextDelaySeconds === null) return null;
  const waitSeconds = Math.max(nextDelaySeconds, result.retryAfterSeconds ?? 0);
  return new Date(attemptedAt.getTime() + waitSeconds * 1000);
}

function summarize(
  outcome: AttemptSummary['outcome'],
  statusCode: number | null,
  error: string | null,
  retryAfterSeconds: number | null,
): AttemptSummary {
  return { outcome, statusCode, error, retryAfterSeconds, stopRetrying: statusCode === 410 };
}

/** Starts the delivery workflow of one attempt series; a second start of the same series is a no-op. */
export async function startDeliveryWorkflow(
  temporal: Client,
  opts: { input: WebhookDeliveryInput; taskQueue: string; summary: string },
): Promise<void> {
  try {
    await temporal.workflow.start('webhookDelivery', {
      workflowId: webhookWorkflowId(opts.input.deliveryId, opts.input.series),
      taskQueue: opts.taskQueue,
      args: [opts.input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [{ key: OrganizationId, value: opts.input.organizationId }],
      staticSummary: opts.summary,
    });
  } catch (err) {
    // Already ran to its end: this series is done.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
