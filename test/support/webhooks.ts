import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Webhook } from 'standardwebhooks';
import type { Db } from '../../src/db/knex';
import type { DeliveryRow } from '../../src/webhooks/deliveries';
import { webhookWorkflowId, type WebhookDeliveryResult } from '../../workflows/definitions';
import type { ReceivedRequest } from './receiver';

// Helpers shared by the webhook tests.


/**
 * What a receiver does with the public `standardwebhooks` package: verify the signature
 * of the raw body with the organization's secret. Throws WebhookVerificationError if not.
 */
export function verifyWithStandardWebhooks(secret: string, req: ReceivedRequest): unknown {
  return new Webhook(secret).verify(req.body, {
    'webhook-id': String(req.headers['webhook-id']),
    'webhook-timestamp': String(req.headers['webhook-timestamp']),
    'webhook-signature': String(req.headers['webhook-signature']),
  });
}

/**
 * The delivery of a session's session-end event (one per session), once the session workflow
 * has recorded it. Nothing signals that moment to a client, so this polls the table briefly.
 */
export async function sessionEndDelivery(db: Db, organizationId: string, sessionId: string, timeoutMs = 30_000): Promise<DeliveryRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await db<DeliveryRow>('webhook_deliveries').where({ organization_id: organizationId, event_key: `session_end:${sessionId}` }).first();
    if (row) return row;
    if (Date.now() > deadline) throw new Error(`no session_end delivery for session ${sessionId} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * How a delivery's attempt series ended. Series 1 of a session-end or decision event has a
 * `webhook-<deliveryId>` workflow only when its first attempt (made by the session's or
 * analysis's own activity) failed with retries left; a series that ended at that attempt is
 * read from the delivery log. Nothing signals either moment to a client, so this polls briefly.
 */
export async function deliveryResult(client: Client, db: Db, deliveryId: string, series = 1, timeoutMs = 30_000): Promise<WebhookDeliveryResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await client.workflow.getHandle(webhookWorkflowId(deliveryId, series)).result();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
    }
    const row = await db<DeliveryRow>('webhook_deliveries').where({ id: deliveryId }).first();
    if (row && row.current_series === series && row.status !== 'pending') return row.status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether the delivery's attempt series has (or had) a `webhookDelivery` workflow. */
export async function hasDeliveryWorkflow(client: Client, deliveryId: string, series = 1): Promise<boolean> {
  try {
    await client.workflow.getHandle(webhookWorkflowId(deliveryId, series)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
