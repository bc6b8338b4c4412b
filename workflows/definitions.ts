// Names shared by workflow code and its clients (API, CLI, tests): defined once here.
// Everything that crosses into Temporal carries ids and statuses only, never personal data.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AnalystDecision, ErasureRequest, RetentionChange } from '../src/domain/messages';
import type { AiStatus, DecisionStatus, SessionVerdict } from '../src/domain/verdict';

// Message schemas (one per signal/update) and the types derived from them.
export {
  analystDecisionSchema,
  erasureRequestSchema,
  requestContextSchema,
  retentionChangeSchema,
  type AnalystDecision,
  type ErasureRequest,
  type MessageRefusal,
  type RequestContext,
  type RetentionChange,
} from '../src/domain/messages';

export const TASK_QUEUE_DEFAULT = 'kyc-journeys';

export type SessionStatus = 'created' | 'in_progress' | 'completed' | 'expired' | 'purged';

export interface JourneySessionInput {
  sessionId: string;
  organizationId: string;
  /** ISO instant of creation: retention counts from it. */
  createdAt: string;
  /** ISO instant at which the session link stops working. */
  linkExpiresAt: string;
  /** The organization's retention when the session was created; null keeps indefinitely. */
  dataRetention: string | null;
  /** The settings' retention revision `dataRetention` was read at; older re-arm signals are ignored. */
  retentionRevision?: number;
  /** History length above which the workflow continues as new (default 10,000; tests lower it). */
  continueAsNewAfterEvents?: number;
  /** Set by continue-as-new: the state the previous run ended with. */
  carried?: CarriedSessionState;
  /**
   * A restart by the reconciler of a session whose workflow was lost (terminated, never
   * started): the lifecycle state its record holds, so the new run carries on from there.
   */
  restored?: RestoredSessionState;
}

export interface RestoredSessionState {
  status: Exclude<SessionStatus, 'purged'>;
  verdict: SessionVerdict | null;
  completedAt: string | null;
  expiredAt: string | null;
}

/** What a session workflow carries into its next run (ids and statuses only). */
export interface CarriedSessionState {
  status: SessionStatus;
  verdict: SessionVerdict | null;
  completedAt: string | null;
  expiredAt: string | null;
  /** The purge instant, re-arms included (`retentionRevision` carries their revision). */
  purgeAt: string | null;
  sessionEndSent: boolean;
  /** The most recent deliveries (the full log is in PostgreSQL). */
  webhookDeliveryIds: string[];
  /** Runs before this one. */
  runs: number;
}

/** What a standalone-analysis workflow carries into its next run. */
export interface CarriedAnalysisState {
  purgeAt: string | null;
  webhookDeliveryIds: string[];
  runs: number;
}

export interface StandaloneAnalysisInput {
  analysisId: string;
  organizationId: string;
  createdAt: string;
  dataRetention: string | null;
  /** As for sessions: the settings' retention revision `dataRetention` was read at. */
  retentionRevision?: number;
  continueAsNewAfterEvents?: number;
  carried?: CarriedAnalysisState;
}

/** Re-arms every not-yet-purged session and standalone analysis of one organization. */
export interface RetentionRearmInput {
  organizationId: string;
  /** The settings revision to apply; the value itself is read from PostgreSQL. */
  revision: number;
  /** Where a continued-as-new run resumes. */
  resume?: RearmProgress;
  pageSize?: number;
  concurrency?: number;
}

/** How far a re-arm got: the next record to signal comes after `after` among `kind`s. */
export interface RearmProgress {
  kind: RearmKind;
  after: RearmCursor | null;
  signalled: number;
  missing: number;
}

export type RearmKind = 'session' | 'analysis';
export interface RearmCursor {
  createdAt: string;
  id: string;
}

export interface RetentionRearmResult {
  organizationId: string;
  revision: number;
  /** superseded: a newer change took over; abandoned: the revision never committed. */
  outcome: 'done' | 'superseded' | 'abandoned';
  dataRetention: string | null;
  /** Workflows signalled, and rows whose workflow was no longer running. */
  signalled: number;
  missing: number;
}

export interface StandaloneAnalysisState {
  analysisId: string;
  organizationId: string;
  status: 'active' | 'purged';
  purgeAt: string | null;
  purgedAt: string | null;
  webhookDeliveryIds: string[];
}

export interface JourneySessionState {
  sessionId: string;
  organizationId: string;
  status: SessionStatus;
  verdict: SessionVerdict | null;
  linkExpiresAt: string;
  completedAt: string | null;
  expiredAt: string | null;
  purgeAt: string | null;
  purgedAt: string | null;
  webhookDeliveryIds: string[];
}

export type DecisionRefusal =
  | 'invalid_input'
  | 'operator_not_allowed'
  | 'analysis_not_found'
  | 'session_not_completed'
  | 'purged'
  /** The recording activity failed for good (a fault, not a transient one). */
  | 'not_recorded';

export type DecisionOutcome =
  | {
      accepted: true;
      analysisId: string;
      newStatus: DecisionStatus;
      decidedAt: string;
      decidedBy: string;
      /** false when the analysis already had this status: nothing changes, nothing is sent. */
      changed: boolean;
    }
  | { accepted: false; reason: DecisionRefusal; message: string };

export interface WebhookDeliveryInput {
  deliveryId: string;
  organizationId: string;
  /** A redelivery starts a new series of attempts under the same webhook-id. */
  series: number;
  retryDelaysSeconds: number[];
  /**
   * Set when attempt 1 was already made by the activity that recorded the delivery (patched
   * session and analysis workflows): the workflow waits `firstWaitSeconds`, then goes on from
   * this attempt. Absent, it starts at attempt 1 as before.
   */
  firstAttemptNo?: number;
  firstWaitSeconds?: number;
}

export type WebhookDeliveryResult = 'succeeded' | 'failed' | 'skipped';

/** Failure types the workflow raises to refuse an update; the API maps them to HTTP. */
export const RefusalType = {
  LinkExpired: 'LinkExpired',
  AlreadyCompleted: 'AlreadyCompleted',
  SessionPurged: 'SessionPurged',
  DecisionRefused: 'DecisionRefused',
} as const;

/**
 * One run of the reconciler (docs/reliability.md): the safety net behind the workflows' own
 * timers. Started by the `kyc-reconciler` Schedule, or directly (tests, operators).
 */
export interface ReconcileInput {
  /** Only these organizations (tests, an operator repairing one customer); all by default. */
  organizationIds?: string[];
  /** A `pending` record younger than this is a creation in flight, left alone. */
  pendingGraceSeconds?: number;
  /** A pending delivery updated more recently than this is left to its dispatch. */
  deliveryGraceSeconds?: number;
  pageSize?: number;
  concurrency?: number;
  /** Where a continued-as-new run resumes. */
  resume?: { step: ReconcileStep; after: ReconcileCursor | null; totals: ReconcileCounts };
}

export type ReconcileStep = 'overdue_sessions' | 'overdue_analyses' | 'open_sessions' | 'open_analyses' | 'pending_deliveries';
export const RECONCILE_STEPS: readonly ReconcileStep[] = ['overdue_sessions', 'overdue_analyses', 'open_sessions', 'open_analyses', 'pending_deliveries'];

/** Keyset position inside a step: the sort key (an ISO instant) and the id. */
export interface ReconcileCursor {
  at: string;
  id: string;
}

/** What the reconciler found and did; the same names label its Prometheus counter. */
export interface ReconcileCounts {
  /** Records looked at. */
  checked: number;
  /** Overdue records whose workflow was gone: purged here. */
  purged: number;
  /** Open records whose workflow was missing or closed: started again with the same id. */
  restarted: number;
  /** `pending` records whose workflow was never started: started. */
  started: number;
  /** `pending` records whose workflow did run: moved on to created. */
  promoted: number;
  /** Running workflows whose purge time disagreed with the record: re-armed. */
  rearmed: number;
  /** Pending webhook deliveries with no running delivery workflow: resumed as a new series. */
  resumed: number;
}

export type ReconcileResult = ReconcileCounts;

export const stateQuery = defineQuery<JourneySessionState>('state');
/** The end user opened the link: `created` → `in_progress`. */
export const openLinkUpdate = defineUpdate<{ status: SessionStatus }>('openLink');
/** The end user reached the End node. Resolves once the verdict is persisted. */
export const completeJourneyUpdate = defineUpdate<{ verdict: AiStatus; completedAt: string }>('completeJourney');

/** The decision signal operators may send from the Temporal UI/CLI (SPEC §9). */
export const analystDecisionSignal = defineSignal<[AnalystDecision]>('analystDecision');
/** The same decision for the API, which needs the outcome to answer 200/409/410. */
export const decideUpdate = defineUpdate<DecisionOutcome, [AnalystDecision]>('decide');
/** The organization's retention changed: re-arm the purge timer from the creation instant. */
export const retentionChangedSignal = defineSignal<[RetentionChange]>('retentionChanged');
/** Right to erasure: purge now. Resolves once the data is gone. */
export const eraseUpdate = defineUpdate<{ purgedAt: string }, [ErasureRequest]>('erase');

export const analysisStateQuery = defineQuery<StandaloneAnalysisState>('state');

export const sessionWorkflowId = (sessionId: string): string => `session-${sessionId}`;
export const analysisWorkflowId = (analysisId: string): string => `analysis-${analysisId}`;
export const retentionRearmWorkflowId = (organizationId: string, revision: number): string =>
  `retention-${organizationId}-r${revision}`;
export const RECONCILER_SCHEDULE_ID = 'kyc-reconciler';
export const webhookWorkflowId = (deliveryId: string, series: number): string =>
  series === 1 ? `webhook-${deliveryId}` : `webhook-${deliveryId}-${series}`;
