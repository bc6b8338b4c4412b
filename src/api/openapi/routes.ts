import { codecPayloadsSchema } from '../routes/codec';
import { z } from 'zod';
import { exportAuditEventsQuery, createApiKeySchema, createOperatorSchema, listAuditEventsQuery, listQuery, updateOperatorSchema } from '../ledgerSchemas';
import {
  createAnalysisSchema,
  createSessionSchema,
  createStandaloneAnalysisSchema,
  decisionSchema,
  idParam,
  listAnalysesQuery,
  listSessionsQuery,
  retentionPreviewQuery,
  settingsPatchSchema,
  uploadDocumentSchema,
} from '../schemas';
import { listDeliveriesQuery, noBody, testWebhookBody } from '../routes/webhooks';
import * as R from './responses';

// The route registry: every route of the API with who may call it, its request schemas
// (the very ones the route parses with) and its responses. The OpenAPI document
// (/openapi.json), the reference page (/docs/api) and the tests' response checks are built
// from it; test/integration/openapi.test.ts fails when the express app has a route that is
// not here (or the other way round).

export type Caller = 'public' | 'end user' | 'api key' | 'admin' | 'analyst' | 'auditor' | 'operator';

export interface ResponseSpec {
  description: string;
  /** JSON body (application/json, or application/problem+json for >= 400). */
  schema?: z.ZodType;
  /** Other media types, e.g. text/csv, with a string body. */
  content?: Record<string, { schema?: z.ZodType }>;
}

export interface RouteSpec {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Express pattern, e.g. /v1/sessions/:id */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  callers: Caller[];
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  bodyRequired?: boolean;
  idempotencyKey?: boolean;
  responses: Record<number, ResponseSpec>;
}

export interface RegistryBounds {
  linkExpiryMin: string;
  retentionMin: string;
}

const ok = (description: string, schema?: z.ZodType): ResponseSpec => ({ description, schema });
const tokenParam = z.object({ token: z.string().describe('the link token from link.url') });
const OPERATORS: Caller[] = ['admin', 'analyst', 'auditor'];

export function apiRoutes(bounds: RegistryBounds = { linkExpiryMin: '1m', retentionMin: '1d' }): RouteSpec[] {
  return [
    // --- sessions ---------------------------------------------------------------------
    {
      method: 'post', path: '/v1/sessions', tag: 'Sessions', summary: 'Start a journey session',
      description: 'Records the session and starts its workflow `session-<id>`; the link expires after `linkExpiry` (default: the `sessionLinkExpiry` setting).',
      callers: ['api key', 'admin'], body: createSessionSchema(bounds.linkExpiryMin), bodyRequired: true, idempotencyKey: true,
      responses: { 201: ok('the session and its link', R.createdSessionResponse) },
    },
    {
      method: 'get', path: '/v1/sessions', tag: 'Sessions', summary: 'List sessions (newest first)',
      callers: ['api key', ...OPERATORS], query: listSessionsQuery, responses: { 200: ok('a page of sessions', R.lists.sessions) },
    },
    {
      method: 'get', path: '/v1/sessions/:id', tag: 'Sessions', summary: 'A session with its analyses',
      callers: ['api key', ...OPERATORS], params: idParam, responses: { 200: ok('the session', R.sessionResponse) },
    },
    {
      method: 'delete', path: '/v1/sessions/:id', tag: 'Sessions', summary: 'Right to erasure: purge the session now',
      callers: ['admin'], params: idParam, responses: { 200: ok('purged (again: the same answer)', R.erasureResponse) },
    },
    {
      method: 'post', path: '/v1/sessions/:id/analyses', tag: 'Analyses', summary: "Record an AI result of the session's journey",
      callers: ['api key'], params: idParam, body: createAnalysisSchema, bodyRequired: true,
      responses: { 201: ok('the analysis', R.createdSessionAnalysisResponse) },
    },
    // --- the end user's link --------------------------------------------------------------
    {
      method: 'get', path: '/v1/journey/:token', tag: 'Journey', summary: 'Open the link (marks the session in_progress)',
      callers: ['end user'], params: tokenParam, responses: { 200: ok('the session behind the link', R.journeyResponse) },
    },
    {
      method: 'post', path: '/v1/journey/:token/documents', tag: 'Journey', summary: 'Upload a captured document',
      callers: ['end user'], params: tokenParam, body: uploadDocumentSchema, bodyRequired: true,
      responses: { 201: ok('the document id', R.createdIdResponse) },
    },
    {
      method: 'post', path: '/v1/journey/:token/complete', tag: 'Journey', summary: 'The end user reached the End node',
      callers: ['end user'], params: tokenParam, responses: { 202: ok('completed; the verdict is stored', R.journeyCompletedResponse) },
    },
    // --- analyses ----------------------------------------------------------------------------
    {
      method: 'post', path: '/v1/analyses', tag: 'Analyses', summary: 'Record a standalone analysis (no session)',
      callers: ['api key'], body: createStandaloneAnalysisSchema, bodyRequired: true, idempotencyKey: true,
      responses: { 201: ok('the analysis', R.createdStandaloneAnalysisResponse) },
    },
    {
      method: 'get', path: '/v1/analyses', tag: 'Analyses', summary: 'List analyses (newest first), e.g. the review queue: status=verify',
      callers: ['api key', ...OPERATORS], query: listAnalysesQuery, responses: { 200: ok('a page of analyses', z.object({ data: z.array(R.analysisResponse), nextCursor: z.string().nullable() })) },
    },
    {
      method: 'get', path: '/v1/analyses/:id', tag: 'Analyses', summary: 'An analysis',
      callers: ['api key', ...OPERATORS], params: idParam, responses: { 200: ok('the analysis', R.analysisResponse) },
    },
    {
      method: 'post', path: '/v1/analyses/:id/decision', tag: 'Analyses', summary: "An analyst's decision",
      description: 'Sent to the workflow as the `analystDecision` update; recorded in the ledger; a changed status sends the decision webhook. With an `Idempotency-Key`, a retry (after a 503, say) is the same decision: it is recorded once and answers with the first outcome.',
      callers: ['admin', 'analyst'], params: idParam, body: decisionSchema, bodyRequired: true, idempotencyKey: true,
      responses: { 200: ok('the decision', R.decisionResponse) },
    },
    // --- documents -----------------------------------------------------------------------------
    {
      method: 'get', path: '/v1/documents/:id', tag: 'Documents', summary: "A document's metadata",
      callers: ['api key', ...OPERATORS], params: idParam, responses: { 200: ok('the metadata', R.documentResponse) },
    },
    {
      method: 'get', path: '/v1/documents/:id/content', tag: 'Documents', summary: "A document's bytes (each read recorded)",
      callers: ['api key', ...OPERATORS], params: idParam,
      responses: { 200: { description: 'the bytes, with the content type given at upload', content: { '*/*': {} } } },
    },
    // --- settings -------------------------------------------------------------------------------
    {
      method: 'get', path: '/v1/settings', tag: 'Settings', summary: 'Advanced settings',
      callers: OPERATORS, responses: { 200: ok('the settings', R.settingsResponse) },
    },
    {
      method: 'patch', path: '/v1/settings', tag: 'Settings', summary: 'Change advanced settings (any subset)',
      description: `Durations: link expiry ${bounds.linkExpiryMin}–60d, retention ${bounds.retentionMin}–3650d or null (indefinitely). A retention change re-arms every record.`,
      callers: ['admin'], body: settingsPatchSchema(bounds.retentionMin, bounds.linkExpiryMin), bodyRequired: true,
      responses: { 200: ok('the settings after the change', R.settingsResponse) },
    },
    {
      method: 'get', path: '/v1/settings/retention-preview', tag: 'Settings', summary: 'What a new dataRetention would purge, and when',
      callers: OPERATORS, query: retentionPreviewQuery(bounds.retentionMin), responses: { 200: ok('the forecast', R.retentionPreviewResponse) },
    },
    {
      method: 'get', path: '/v1/settings/webhook-secret', tag: 'Webhooks', summary: 'Reveal the signing secret (the read is recorded)',
      callers: ['admin'], responses: { 200: ok('the current secret', R.webhookSecretResponse) },
    },
    {
      method: 'post', path: '/v1/settings/webhook-secret/rotate', tag: 'Webhooks', summary: 'Rotate the signing secret (the old one signs beside it for 24 h)',
      callers: ['admin'], body: noBody, idempotencyKey: true, responses: { 200: ok('the new secret', R.rotatedSecretResponse) },
    },
    {
      method: 'post', path: '/v1/settings/webhook-secret/end-grace', tag: 'Webhooks', summary: 'End the overlap now: rotated-out secrets are deleted and stop signing',
      callers: ['admin'], body: noBody, idempotencyKey: true, responses: { 200: ok('how many secrets ended', R.endedGraceResponse) },
    },
    {
      method: 'post', path: '/v1/settings/webhooks/test', tag: 'Webhooks', summary: 'Send a signed sample now and return the attempt',
      callers: ['admin'], body: testWebhookBody, bodyRequired: true, idempotencyKey: true,
      responses: { 200: ok('the attempt', R.testWebhookResponse) },
    },
    {
      method: 'get', path: '/v1/webhook-deliveries', tag: 'Webhooks', summary: 'The delivery log (newest first), attempts inline',
      callers: ['admin', 'auditor'], query: listDeliveriesQuery, responses: { 200: ok('a page of deliveries', R.lists.deliveries) },
    },
    {
      method: 'get', path: '/v1/webhook-deliveries/:id', tag: 'Webhooks', summary: 'A delivery with its attempts',
      callers: ['admin', 'auditor'], params: idParam, responses: { 200: ok('the delivery', R.deliveryResponse) },
    },
    {
      method: 'post', path: '/v1/webhook-deliveries/:id/redeliver', tag: 'Webhooks', summary: 'Redeliver: same webhook-id, a new attempt series',
      callers: ['admin'], params: idParam, body: noBody, idempotencyKey: true, responses: { 202: ok('the delivery, pending again', R.deliveryResponse) },
    },
    // --- operators and API keys -------------------------------------------------------------
    {
      method: 'post', path: '/v1/operators', tag: 'Operators', summary: 'Add an operator (token shown once)',
      callers: ['admin'], body: createOperatorSchema, bodyRequired: true, idempotencyKey: true,
      responses: { 201: ok('the operator and its token', R.createdOperatorResponse) },
    },
    {
      method: 'get', path: '/v1/operators', tag: 'Operators', summary: 'List operators',
      callers: ['admin'], query: listQuery, responses: { 200: ok('a page of operators', R.lists.operators) },
    },
    {
      method: 'get', path: '/v1/operators/:id', tag: 'Operators', summary: 'An operator',
      callers: ['admin'], params: idParam, responses: { 200: ok('the operator', R.operatorResponse) },
    },
    {
      method: 'patch', path: '/v1/operators/:id', tag: 'Operators', summary: "Change an operator's role or disable it",
      callers: ['admin'], params: idParam, body: updateOperatorSchema, bodyRequired: true, responses: { 200: ok('the operator', R.updatedOperatorResponse) },
    },
    {
      method: 'post', path: '/v1/operators/:id/token', tag: 'Operators', summary: "Rotate an operator's token (the old one stops at once; the new one shown once)",
      callers: ['admin'], params: idParam, responses: { 201: ok('the new token', R.rotatedOperatorTokenResponse) },
    },
    {
      method: 'post', path: '/v1/api-keys', tag: 'Operators', summary: 'Create an API key (shown once)',
      callers: ['admin'], body: createApiKeySchema, bodyRequired: true, idempotencyKey: true,
      responses: { 201: ok('the key', R.createdApiKeyResponse) },
    },
    {
      method: 'get', path: '/v1/api-keys', tag: 'Operators', summary: 'List API keys',
      callers: ['admin'], query: listQuery, responses: { 200: ok('a page of keys', R.lists.apiKeys) },
    },
    {
      method: 'delete', path: '/v1/api-keys/:id', tag: 'Operators', summary: 'Revoke an API key',
      callers: ['admin'], params: idParam, responses: { 204: { description: 'revoked' } },
    },
    {
      method: 'get', path: '/v1/me', tag: 'Operators', summary: 'The signed-in operator and its role',
      callers: OPERATORS, responses: { 200: ok('who you are', R.meResponse) },
    },
    // --- operator action history ----------------------------------------------------------
    {
      method: 'get', path: '/v1/audit-events', tag: 'Audit', summary: 'The operator action history (newest first)',
      callers: ['admin', 'auditor'], query: listAuditEventsQuery, responses: { 200: ok('a page of events', R.lists.auditEvents) },
    },
    {
      method: 'get', path: '/v1/audit-events/public-key', tag: 'Audit', summary: 'The Ed25519 public keys that verify checkpoints (retired ones included)',
      callers: ['public'], responses: { 200: ok('the keys', R.publicKeysResponse) },
    },
    {
      method: 'get', path: '/v1/audit-events/checkpoints', tag: 'Audit', summary: 'Signed checkpoints of the ledger (newest first)',
      callers: ['admin', 'auditor'], query: listQuery, responses: { 200: ok('a page of checkpoints', R.lists.checkpoints) },
    },
    {
      method: 'post', path: '/v1/audit-events/checkpoints', tag: 'Audit', summary: 'Sign the current head now',
      callers: ['admin'],
      responses: { 201: ok('a new checkpoint', R.checkpointResponse), 200: ok('the newest checkpoint already covers the head', R.checkpointResponse) },
    },
    {
      method: 'get', path: '/v1/audit-events/verify', tag: 'Audit', summary: "Recompute the ledger's hash chain",
      callers: ['admin', 'auditor'], responses: { 200: ok('the verification', R.ledgerVerificationResponse) },
    },
    {
      method: 'get', path: '/v1/audit-events/export', tag: 'Audit', summary: 'Export (streamed, oldest first; the export is recorded)',
      callers: ['admin', 'auditor'], query: exportAuditEventsQuery,
      responses: { 200: { description: 'CSV or NDJSON', content: { 'text/csv': { schema: z.string() }, 'application/x-ndjson': { schema: z.string() } } } },
    },
    {
      method: 'get', path: '/v1/audit-events/:id', tag: 'Audit', summary: 'An event',
      callers: ['admin', 'auditor'], params: idParam, responses: { 200: ok('the event', R.auditEventResponse) },
    },
    // --- Temporal's remote codec protocol (Web UI, CLI) -----------------------------------------
    {
      method: 'post', path: '/codec/decode', tag: 'Operations', summary: "Decode Temporal payloads of the caller's organization (audited)",
      description: 'Temporal remote codec protocol; the X-Namespace header names the namespace. Payloads of another organization are refused.',
      callers: ['operator'], body: codecPayloadsSchema, bodyRequired: true, responses: { 200: ok('the decoded payloads', codecPayloadsSchema) },
    },
    {
      method: 'post', path: '/codec/encode', tag: 'Operations', summary: "Encode payloads under the caller's organization key",
      callers: ['operator'], body: codecPayloadsSchema, bodyRequired: true, responses: { 200: ok('the encoded payloads', codecPayloadsSchema) },
    },
    // --- operations ---------------------------------------------------------------------------
    { method: 'get', path: '/healthz', tag: 'Operations', summary: 'Liveness', callers: ['public'], responses: { 200: ok('alive', R.healthResponse) } },
    {
      method: 'get', path: '/readyz', tag: 'Operations', summary: 'Readiness: PostgreSQL and Temporal answer',
      callers: ['public'], responses: { 200: ok('ready', R.readinessResponse), 503: ok('not ready', R.readinessResponse) },
    },
    {
      method: 'get', path: '/metrics', tag: 'Operations', summary: 'Prometheus metrics',
      description: 'Here only behind METRICS_TOKEN (Authorization: Bearer <METRICS_TOKEN>), else 404; METRICS_PORT serves it on a listener of its own.',
      callers: ['public'], responses: { 401: { description: 'METRICS_TOKEN missing or wrong', schema: R.problemResponse }, 404: { description: 'not served on this listener', schema: R.problemResponse }, 200: { description: 'Prometheus text', content: { 'text/plain': { schema: z.string() } } } },
    },
    {
      method: 'get', path: '/openapi.json', tag: 'Operations', summary: 'This document',
      callers: ['public'], responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
    },
    {
      method: 'get', path: '/docs/api', tag: 'Operations', summary: 'The rendered API reference',
      callers: ['public'], responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
    },
    {
      method: 'get', path: '/docs', tag: 'Operations', summary: 'The rendered API reference (same as /docs/api)',
      callers: ['public'], responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
    },
    {
      method: 'get', path: '/', tag: 'Operations', summary: 'The back office (sign in with an operator token)',
      callers: ['public'], responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
    },
  ];
}
