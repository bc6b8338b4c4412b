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
 * The result of a delivery's attempt series. The delivery row is written just before its
 * workflow starts, so a workflow not found yet is waited for briefly.
 */
export async function deliveryResult(client: Client, deliveryId: string, series = 1, timeoutMs = 30_000): Promise<WebhookDeliveryResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await client.workflow.getHandle(webhookWorkflowId(deliveryId, series)).result();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
