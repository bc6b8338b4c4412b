import { createHmac, randomBytes } from 'node:crypto';

// Standard Webhooks (https://www.standardwebhooks.com/) signing, scheme v1 (HMAC-SHA256).

const SECRET_PREFIX = 'whsec_';
// Strict standard base64 with padding; Buffer.from(…, 'base64') alone silently skips junk.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface SignWebhookInput {
  secrets: string[];
  webhookId: string;
  /** unix seconds */
  timestamp: number;
  body: string;
}

export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** Stable per delivery so receivers can deduplicate retries of the same message. */
export function webhookIdForDelivery(deliveryId: string): string {
  return 'msg_' + deliveryId.replace(/-/g, '');
}

function secretKey(secret: string, index: number): Buffer {
  // The secret itself must never end up in an error message.
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) {
    throw new Error(`webhook secret #${index} is invalid: expected "${SECRET_PREFIX}" followed by base64`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !BASE64_RE.test(encoded)) {
    throw new Error(`webhook secret #${index} is invalid: the part after "${SECRET_PREFIX}" is not base64`);
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) {
    throw new Error(`webhook secret #${index} is invalid: decoded key is empty`);
  }
  return key;
}

export function signWebhook(input: SignWebhookInput): string {
  const { secrets, webhookId, timestamp, body } = input;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new Error('at least one webhook secret is required to sign');
  }
  if (!Number.isInteger(timestamp) || timestamp < 0) {
    throw new Error('webhook timestamp must be a non-negative integer number of unix seconds');
  }
  if (typeof webhookId !== 'string' || webhookId.length === 0) {
    throw new Error('webhook id must be a non-empty string');
  }
  const signedContent = `${webhookId}.${timestamp}.${body}`;
  return secrets
    .map((secret, i) => {
      const mac = createHmac('sha256', secretKey(secret, i)).update(signedContent, 'utf8').digest('base64');
      return `v1,${mac}`;
    })
    .join(' ');
}

export function webhookHeaders(input: SignWebhookInput): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': input.webhookId,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': signWebhook(input),
  };
}
