import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Db } from '../../src/db/knex';
import { hashToken, newToken } from '../../src/orgs/credentials';
import type { OperatorRole } from '../../src/orgs/organizations';
import type { ReceivedRequest } from './receiver';

// Helpers shared by the webhook tests.

/** An operator of the organization with the given role, and its bearer token. */
export async function addOperator(db: Db, organizationId: string, role: OperatorRole): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  const token = newToken('operator');
  await db('operators').insert({
    id,
    organization_id: organizationId,
    email: `${role}-${id}@example.com`,
    role,
    token_hash: hashToken(token),
  });
  return { id, token };
}

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

/** The delivery row of a session's session-end event (one per session). */
export async function sessionEndDelivery(db: Db, organizationId: string, sessionId: string) {
  return db('webhook_deliveries').where({ organization_id: organizationId, event_key: `session_end:${sessionId}` }).first();
}
