import { z } from 'zod';

// Response schemas: what each route answers, the second half of the route registry
// (./routes.ts). The OpenAPI document, the reference page and the tests' response checks
// are all built from these; ./viewTypes.ts makes the compiler check them against the views
// the domain functions return.

const id = z.uuid();
const instant = z.iso.datetime({ offset: true });
const nullableInstant = instant.nullable();
const duration = z.string().regex(/^(\d+d)?(\d+h)?(\d+m)?$/).describe('days, hours and minutes, e.g. `1d12h`');

export const sessionStatus = z.enum(['created', 'in_progress', 'completed', 'expired', 'purged']);
export const verdict = z.enum(['ai_approved', 'ai_rejected', 'verify', 'user_approved', 'user_rejected']);
export const analysisStatus = z.enum(['ai_approved', 'ai_rejected', 'verify', 'user_approved', 'user_rejected', 'purged']);

const list = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable().describe('null on the last page') });

export const problemResponse = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .describe('RFC 9457 problem details');

export const analysisResponse = z
  .object({
    id,
    sessionId: id.nullable(),
    entityId: id,
    documentId: id.nullable(),
    correlationId: z.string().nullable(),
    kind: z.string(),
    status: analysisStatus,
    result: z.record(z.string(), z.unknown()).nullable(),
    createdAt: instant,
    decidedAt: nullableInstant,
    decidedBy: z.string().nullable(),
    purgedAt: nullableInstant,
  });

export const sessionResponse = z
  .object({
    id,
    status: sessionStatus,
    verdict: verdict.nullable(),
    entityId: id,
    journeyId: z.string().nullable(),
    correlationId: z.string().nullable(),
    link: z.object({ expiresAt: instant }),
    createdAt: instant,
    completedAt: nullableInstant,
    expiredAt: nullableInstant,
    purgedAt: nullableInstant,
    analyses: z.array(analysisResponse),
  });

export const createdSessionResponse = z.object({
  id,
  status: z.literal('created'),
  entityId: id,
  correlationId: z.string().nullable(),
  link: z.object({ url: z.url(), expiresAt: instant }),
  linkExpiry: duration,
  createdAt: instant,
});

export const journeyResponse = z.object({ sessionId: id, status: sessionStatus, expiresAt: instant });
export const createdIdResponse = z.object({ id });
export const journeyCompletedResponse = z.object({ sessionId: id, status: z.literal('completed') });
export const createdSessionAnalysisResponse = z.object({ id, sessionId: id, entityId: id, status: analysisStatus });
export const createdStandaloneAnalysisResponse = z.object({
  id,
  sessionId: z.null(),
  entityId: id,
  correlationId: z.string().nullable(),
  status: analysisStatus,
  createdAt: instant,
});
export const decisionResponse = z.object({
  analysisId: id,
  newStatus: z.enum(['user_approved', 'user_rejected']),
  decidedAt: instant,
  decidedBy: z.string(),
});
export const erasureResponse = z.object({ id, status: z.literal('purged'), purgedAt: instant });

export const documentResponse = z
  .object({
    id,
    sessionId: id,
    type: z.string(),
    fileName: z.string(),
    contentType: z.string(),
    sizeBytes: z.number().int(),
    createdAt: instant,
  });

export const settingsResponse = z
  .object({
    sessionEndWebhookUrl: z.string().nullable(),
    decisionWebhookUrl: z.string().nullable(),
    dataRetention: duration.nullable().describe('null: kept indefinitely'),
    sessionLinkExpiry: duration,
  });

const forecast = z.object({
  total: z.number().int(),
  purgeNow: z.number().int(),
  scheduled: z.array(z.object({ date: z.string(), count: z.number().int() })),
  later: z.number().int(),
  kept: z.number().int(),
});
export const retentionPreviewResponse = z.object({
  dataRetention: duration.nullable(),
  currentDataRetention: duration.nullable(),
  asOf: instant,
  horizonDays: z.number().int(),
  sessions: forecast,
  analyses: forecast,
});

export const webhookSecretResponse = z.object({ secret: z.string().startsWith('whsec_') });
export const endedGraceResponse = z.object({ endedSecrets: z.number().int() });

export const rotatedSecretResponse = z.object({
  secret: z.string().startsWith('whsec_'),
  createdAt: instant,
  previousSecretExpiresAt: nullableInstant,
});

const attemptOutcome = z.string().describe('succeeded, failed, refused, …');
export const testWebhookResponse = z.object({
  deliveryId: id,
  webhookId: z.string(),
  endpoint: z.enum(['session_end', 'decision']),
  url: z.string().nullable(),
  outcome: attemptOutcome,
  statusCode: z.number().int().nullable(),
  durationMs: z.number().int().nullable(),
  error: z.string().nullable(),
  responseBody: z.string().nullable(),
});

export const attemptResponse = z.object({
  series: z.number().int(),
  attemptNo: z.number().int(),
  attemptedAt: instant,
  url: z.string().nullable(),
  outcome: attemptOutcome,
  statusCode: z.number().int().nullable(),
  durationMs: z.number().int().nullable(),
  error: z.string().nullable(),
  responseBody: z.string().nullable(),
});
export const deliveryResponse = z
  .object({
    id,
    event: z.enum(['session_end', 'decision', 'test', 'audit_checkpoint']),
    status: z.enum(['pending', 'succeeded', 'failed', 'skipped']),
    webhookId: z.string(),
    sessionId: id.nullable(),
    analysisId: id.nullable(),
    payload: z.record(z.string(), z.unknown()),
    attemptCount: z.number().int(),
    series: z.number().int(),
    nextAttemptAt: nullableInstant,
    createdAt: instant,
    updatedAt: instant,
    attempts: z.array(attemptResponse),
  });

const role = z.enum(['admin', 'analyst', 'auditor']);
export const operatorResponse = z.object({ id, email: z.string(), role, disabled: z.boolean(), disabledAt: nullableInstant, createdAt: instant });
/** PATCH answers: re-enabling an operator issues a new token, shown once. */
export const updatedOperatorResponse = operatorResponse.extend({
  token: z.string().optional().describe('only when re-enabled: a new token, shown once'),
  tokenExpiresAt: nullableInstant.optional(),
});
export const rotatedOperatorTokenResponse = z.object({ id, token: z.string(), tokenExpiresAt: nullableInstant });
export const createdOperatorResponse = z.object({
  id,
  email: z.string(),
  role,
  token: z.string().nullable().describe('shown once; null on an Idempotency-Key replay'),
  tokenExpiresAt: nullableInstant.optional(),
  createdAt: instant,
});
export const apiKeyResponse = z
  .object({ id, label: z.string(), revoked: z.boolean(), revokedAt: nullableInstant, createdAt: instant });
export const createdApiKeyResponse = z.object({
  id,
  label: z.string(),
  key: z.string().nullable().describe('shown once; null on an Idempotency-Key replay'),
  createdAt: instant,
});

export const auditEventResponse = z
  .object({
    id,
    seq: z.number().int(),
    occurredAt: instant,
    actor: z.object({ type: z.enum(['operator', 'api_key', 'system', 'end_user']), id: z.string().nullable(), label: z.string().nullable() }),
    action: z.string(),
    category: z.enum(['creation', 'modification', 'deletion', 'decision', 'access']),
    resource: z.object({ type: z.string(), id: z.string().nullable() }),
    changes: z.unknown(),
    outcome: z.string(),
    requestId: z.string().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    prevHash: z.string(),
    hash: z.string(),
  });
export const checkpointResponse = z.object({
  id,
  organizationId: id,
  seq: z.number().int(),
  hash: z.string(),
  signedAt: instant,
  prevCheckpointHash: z.string(),
  keyId: z.string(),
  checkpointHash: z.string().describe('SHA-256 of the signed canonical JSON'),
  signature: z.string().describe('Ed25519 over canonical JSON of {organizationId, seq, hash, signedAt, prevCheckpointHash, keyId}, base64'),
});
export const publicKeysResponse = z.object({
  algorithm: z.literal('Ed25519'),
  currentKeyId: z.string().nullable(),
  keys: z.array(z.object({ keyId: z.string(), publicKey: z.string().describe('SPKI PEM'), createdAt: instant, current: z.boolean() })),
});
export const ledgerVerificationResponse = z.object({
  valid: z.boolean(),
  checked: z.number().int(),
  headSeq: z.number().int().nullable(),
  headHash: z.string().nullable(),
  firstInvalidSeq: z.number().int().optional(),
  checkpoints: z
    .object({
      valid: z.boolean(),
      checked: z.number().int(),
      latestSeq: z.number().int().nullable(),
      problems: z.array(
        z.object({ kind: z.enum(['unknown_key', 'bad_signature', 'bad_checkpoint_hash', 'forked_chain', 'missing_events', 'event_mismatch']), seq: z.number().int(), detail: z.string() }),
      ),
    })
    .describe('the events against the signed checkpoints'),
});

export const healthResponse = z.object({ status: z.literal('ok') });
export const readinessResponse = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z.object({ database: z.enum(['ok', 'unavailable']), temporal: z.enum(['ok', 'unavailable']) }),
});

export const lists = {
  sessions: list(sessionResponse),
  deliveries: list(deliveryResponse),
  operators: list(operatorResponse),
  apiKeys: list(apiKeyResponse),
  auditEvents: list(auditEventResponse),
  checkpoints: list(checkpointResponse),
};

export const meResponse = z.object({ organizationId: id, operatorId: id, email: z.string(), role });
