// Names shared by workflow code and its clients (API, CLI, tests): defined once here.
// Everything that crosses into Temporal carries ids and statuses only, never personal data.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { AiStatus, SessionVerdict } from '../src/domain/verdict';

export const TASK_QUEUE_DEFAULT = 'kyc-journeys';

export type SessionStatus = 'created' | 'in_progress' | 'completed' | 'expired' | 'purged';

export interface JourneySessionInput {
  sessionId: string;
  organizationId: string;
  /** ISO instant at which the session link stops working. */
  linkExpiresAt: string;
}

export interface JourneySessionState {
  sessionId: string;
  organizationId: string;
  status: SessionStatus;
  verdict: SessionVerdict | null;
  linkExpiresAt: string;
  completedAt: string | null;
  expiredAt: string | null;
  webhookDeliveryIds: string[];
}

export interface WebhookDeliveryInput {
  deliveryId: string;
  organizationId: string;
  /** A redelivery starts a new series of attempts under the same webhook-id. */
  series: number;
  retryDelaysSeconds: number[];
}

export type WebhookDeliveryResult = 'succeeded' | 'failed' | 'skipped';

/** Failure types the workflow raises to refuse an update; the API maps them to HTTP. */
export const RefusalType = {
  LinkExpired: 'LinkExpired',
  AlreadyCompleted: 'AlreadyCompleted',
  SessionPurged: 'SessionPurged',
} as const;

export const stateQuery = defineQuery<JourneySessionState>('state');
/** The end user opened the link: `created` → `in_progress`. */
export const openLinkUpdate = defineUpdate<{ status: SessionStatus }>('openLink');
/** The end user reached the End node. Resolves once the verdict is persisted. */
export const completeJourneyUpdate = defineUpdate<{ verdict: AiStatus; completedAt: string }>('completeJourney');

export const sessionWorkflowId = (sessionId: string): string => `session-${sessionId}`;
export const webhookWorkflowId = (deliveryId: string, series: number): string =>
  series === 1 ? `webhook-${deliveryId}` : `webhook-${deliveryId}-${series}`;
