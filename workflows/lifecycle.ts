// Pieces shared by the session and standalone-analysis workflows: the analyst decision queue,
// the retention deadline and the erasure request. Deterministic: workflow APIs and pure domain
// code only.
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  currentUpdateInfo,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import type { AuditActor, AuditContext } from '../src/audit/ledger';
import {
  analystDecisionSchema,
  checkAnalystDecision,
  checkRetentionChange,
  describeIssues,
  erasureRequestSchema,
  type MessageRefusal,
} from '../src/domain/messages';
import { parseDuration } from '../src/domain/duration';
import { purgeAtFor } from '../src/domain/retention';
import {
  analystDecisionSignal,
  decideUpdate,
  eraseUpdate,
  retentionChangedSignal,
  type AnalystDecision,
  type DecisionOutcome,
  type ErasureRequest,
  type RetentionChange,
} from './definitions';

export { purgeAtFor };

/**
 * Workflow code has shipped: each change of what a workflow does is taken only by runs that
 * reach it with this code (patched() records a marker; replays of older histories take the
 * old path). Names start with the branch that introduced them.
 */
export const PATCHES = {
  /** Malformed signals are refused and audited in the handler, never queued for an activity. */
  validateMessages: 'rel-core-validate-messages',
  /** A decision whose recording fails for good answers its update and the workflow goes on. */
  decisionFailure: 'rel-core-decision-failure',
  /** A failed completion clears the flag that holds back the link expiry and the purge. */
  completionReset: 'rel-core-completion-reset',
  /** A cancel request purges (in a non-cancellable scope) and ends the workflow cleanly. */
  cancelPurges: 'rel-core-cancel-purges',
  /** Long-lived workflows continue as new, carrying their state. */
  continueAsNew: 'rel-core-continue-as-new',
  /** Link expiry and purge due together: the expiry is recorded first. */
  expireBeforePurge: 'rel-fix-expire-before-purge',
  /** Opening the link gives up after a few quick attempts (the API answers 503). */
  openLinkBounded: 'rel-fix-open-link-bounded',
  /**
   * A `retentionChanged` signal without a revision (typed in the Temporal UI/CLI) applies only
   * once an activity found that it names an active admin of the organization; audited either
   * way (issue 12).
   */
  retentionSignalAdmin: 'sec3-retention-signal-admin',
  /**
   * Session-end and decision webhooks: the first attempt is made by the activity that records
   * (or starts) the delivery, and a `webhookDelivery` workflow is started only if it failed
   * with retries left. The loop does not await it: a slow receiver never holds back a decision,
   * the link expiry or the purge.
   */
  webhookInline: 'perf-webhook-inline',
  /**
   * A lighter journey on Temporal (issue 10), one patch for both changes because each patch a
   * run takes costs a marker and an upsert of `TemporalChangeVersion` (SDK Core), a visibility
   * write like any upsert:
   *  - the analyst decision is recorded by a local activity, in the workflow task that takes it
   *    (as the link opening and the completion are), not by an activity task: one activity
   *    task and one workflow task fewer per decision; same activity, retries and idempotency key;
   *  - search attributes are upserted only where they differ from what the workflow already has
   *    (the start's, carried across continue-as-new, and its own upserts): none at the start
   *    when the API set the same attributes (which pays for this patch's own upsert), none for a
   *    transition that changes none.
   * Taken at the workflow's first publish, so a new run's decisions find it already recorded.
   */
  light: 'perf-light-journey',
  /**
   * One local activity at a time in a session (LocalActivityLock): the link opening, the
   * completion and the decisions' recording wait for each other instead of overlapping. Taken
   * only when one would have waited (no marker, no upsert in a journey that never overlaps).
   */
  oneLocalActivity: 'rel-fix-one-local-activity',
} as const;

/**
 * Runs the workflow's local-activity steps one at a time (PATCHES.oneLocalActivity).
 *
 * Why: two handlers awaiting local activities at once (an opening retried after a 503 and the
 * completion, both delivered in one workflow task after a slow first one) resume in separate
 * activations when their activities finish at different times, but in one activation when the
 * history is replayed (both markers are there): the second handler's search-attribute upsert
 * then comes before the first update's completion, SDK Core reports "[TMPRL1100]
 * Nondeterminism error: UpsertWorkflowSearchAttributesMachine does not handle ...
 * WorkflowExecutionUpdateCompleted", and every later task of the session fails the same way
 * (docs/performance.md, run 16): the session is stuck and every update to it answers 503.
 * With one local activity outstanding at a time, each one's continuation runs alone, in the
 * original run and in any replay. A step that does not overlap another runs as before.
 */
export class LocalActivityLock {
  private holders = 0;

  /**
   * `step()`'s own promise when nothing else runs: not one microtask more than calling it
   * directly, because the order of a task's commands follows the order of its microtasks and
   * the histories recorded before this lock must replay to the same commands.
   */
  run<T>(step: () => Promise<T>): Promise<T> {
    // patched() only when this step would wait: replays of histories where steps overlapped
    // (recorded before this patch) overlap them again.
    if (this.holders > 0 && patched(PATCHES.oneLocalActivity)) return this.afterOthers(step);
    return this.holding(step);
  }

  private holding<T>(step: () => Promise<T>): Promise<T> {
    this.holders += 1;
    const release = (): void => {
      this.holders -= 1;
    };
    const running = step();
    running.then(release, release);
    return running;
  }

  private async afterOthers<T>(step: () => Promise<T>): Promise<T> {
    while (this.holders > 0) await condition(() => this.holders === 0);
    return this.holding(step);
  }
}

/**
 * Short PostgreSQL writes: transient faults (database unreachable, serialization failures)
 * are retried with backoff until the database answers; the activities turn anything else into
 * a non-retryable failure (activities/classify.ts).
 */
export const lifecycleActivities = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * The decision's recording as a local activity (PATCHES.light): the same timeouts and
 * unbounded retries as `lifecycleActivities` (a transient database fault is retried until the
 * database answers; a permanent one fails at once, see decisionFailure). Retries whose backoff
 * passes 10 s wait on a workflow timer instead of holding the workflow task open.
 */
const decisionRecorder = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  localRetryThreshold: '10 seconds',
});

/**
 * The inline first attempt: one HTTP request (15 s timeout) and its bookkeeping, then maybe a
 * workflow start. Receiver failures are results; only our own faults (database, Temporal
 * unreachable) are retried, as for the other activities.
 */
const webhookActivities = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Webhook sends in flight (PATCHES.webhookInline), started beside the main loop rather than
 * awaited by it. Each runs in a non-cancellable scope, so a cancel request (which purges)
 * does not abandon it; the workflow waits for all of them before it continues as new or ends.
 */
export class InlineWebhooks {
  private inFlight = 0;

  constructor(private readonly deliveryIds: string[]) {}

  get idle(): boolean {
    return this.inFlight === 0;
  }

  /** A session-end event: recorded and sent by one activity; its id is known once it returns. */
  send(delivery: Parameters<Activities['sendWebhook']>[0], summary: string): void {
    this.track(() => webhookActivities.sendWebhook.executeWithOptions({ summary }, [delivery]), true);
  }

  /** A delivery already recorded (the decision outbox): its id is known now. */
  sendRecorded(deliveryId: string, summary: string): void {
    this.deliveryIds.push(deliveryId);
    this.track(() => webhookActivities.sendRecordedWebhook.executeWithOptions({ summary }, [{ deliveryId }]), false);
  }

  /** Resolves once no send is in flight. */
  async drain(): Promise<void> {
    if (!this.idle) await condition(() => this.idle);
  }

  private track(run: () => Promise<{ deliveryId: string }>, recordId: boolean): void {
    this.inFlight++;
    void CancellationScope.nonCancellable(run)
      .then(
        ({ deliveryId }) => {
          if (recordId) this.deliveryIds.push(deliveryId);
        },
        () => {
          // Failed for good (not a transient fault): the delivery, if recorded, stays pending
          // without a workflow, and the reconciler resumes it (docs/reliability.md).
        },
      )
      .finally(() => {
        this.inFlight--;
      });
  }
}

/**
 * What a `retentionChanged` signal does to a workflow whose retention is at `revision`: the new
 * purge instant and revision, or null when the signal must be ignored, because it belongs to
 * an older settings change than one already applied (re-arms of successive changes may arrive
 * in any order) or because it is malformed (a signal typed in the UI can hold anything, and a
 * throwing handler would fail every workflow task).
 */
export function applyRetentionChange(
  createdAt: string,
  revision: number,
  change: unknown,
): { purgeAt: string | null; revision: number; recorded: boolean } | null {
  if (typeof change !== 'object' || change === null) return null;
  const { dataRetention, revision: next } = change as Partial<RetentionChange>;
  if (dataRetention !== null && (typeof dataRetention !== 'string' || !parseDuration(dataRetention).ok)) return null;
  if (next !== undefined && (typeof next !== 'number' || !Number.isSafeInteger(next) || next <= revision)) return null;
  // A revision comes from the API's re-arm, whose transaction already wrote purge_at to
  // PostgreSQL; a change typed in the UI/CLI is written by the workflow itself.
  return { purgeAt: purgeAtFor(createdAt, dataRetention), revision: next ?? revision, recorded: next !== undefined };
}

export interface QueuedDecision {
  decision: AnalystDecision;
  /** Stable across activity retries and replays: the ledger's idempotency key. */
  key: string;
  reply?: (outcome: DecisionOutcome) => void;
}

/**
 * Signals refused as malformed, waiting for the main loop to audit them (outcome failure).
 * Only where validation failed and the well-formed ids are kept, never the message itself.
 */
export class RefusedMessages {
  private items: { refusal: MessageRefusal; key: string }[] = [];

  get length(): number {
    return this.items.length;
  }

  push(refusal: MessageRefusal): void {
    this.items.push({ refusal, key: uuid4() });
  }

  /** Audits each refusal through an activity (idempotent by key), in arrival order. */
  async record(organizationId: string, subject: { type: 'session' | 'analysis'; id: string }): Promise<void> {
    let next: { refusal: MessageRefusal; key: string } | undefined;
    while ((next = this.items.shift())) {
      await lifecycleActivities.recordRefusedMessage({ organizationId, subject, refusal: next.refusal, key: `refused:${subject.id}:${next.key}` });
    }
  }
}

/**
 * Decisions are applied one at a time, in arrival order, by the workflow's main loop,
 * whether they came as a signal (UI/CLI) or an update (API). Constructing it registers both.
 */
export class DecisionQueue {
  private items: QueuedDecision[] = [];

  constructor(private readonly refused: RefusedMessages) {
    setHandler(analystDecisionSignal, (decision) => this.fromSignal(decision));
    setHandler(decideUpdate, (decision) => this.fromUpdate(decision), {
      // The API validates before it sends; a malformed update (CLI/UI) is rejected here, before
      // it enters the history.
      validator: (decision) => {
        const problem = describeIssues(analystDecisionSchema, decision);
        if (problem) throw ApplicationFailure.nonRetryable(`malformed decision: ${problem}`, 'InvalidMessage');
      },
    });
  }

  get length(): number {
    return this.items.length;
  }

  fromSignal(decision: unknown): void {
    // A signal typed in the Temporal UI/CLI can hold anything (`--input null`): refused and
    // audited here, before any activity sees it.
    const checked = checkAnalystDecision(decision);
    if (!checked.ok && patched(PATCHES.validateMessages)) {
      this.refused.push(checked.refusal);
      return;
    }
    // Only the Temporal UI/CLI signal (the API sends an update): the ledger records that door,
    // whatever the signal claims about itself (issue 12).
    const marked =
      patched('security-signal-provenance') && typeof decision === 'object' && decision !== null
        ? { ...(decision as AnalystDecision), via: 'temporal' as const }
        : (decision as AnalystDecision);
    this.items.push({ decision: marked, key: `signal:${uuid4()}` });
  }

  /** A decision taken out by an interrupted applier goes back to the front. */
  unshift(item: QueuedDecision): void {
    this.items.unshift(item);
  }

  fromUpdate(decision: AnalystDecision): Promise<DecisionOutcome> {
    const key = `update:${currentUpdateInfo()?.id ?? uuid4()}`;
    return new Promise((reply) => this.items.push({ decision, key, reply }));
  }

  shift(): QueuedDecision | undefined {
    return this.items.shift();
  }
}

/**
 * Applies queued decisions through the recording activity, then sends the decision webhook it
 * asks for and answers the update that brought the decision, if any.
 */
export function decisionApplier(opts: {
  organizationId: string;
  /** The workflow's subject: its decisions' keys start with it. */
  subjectId: string;
  scope: { sessionId: string } | { analysisId: string };
  webhookDeliveryIds: string[];
  onChanged?: (outcome: DecisionOutcome & { accepted: true }) => void;
  /** Where an item interrupted by cancellation goes back, to be refused after the purge. */
  queue?: DecisionQueue;
  /** Decision webhooks sent beside the loop (PATCHES.webhookInline). */
  webhooks?: InlineWebhooks;
}): (item: QueuedDecision) => Promise<void> {
  return async (item) => {
    let outcome: DecisionOutcome;
    try {
      const request = { decision: item.decision, decisionKey: `${opts.subjectId}:${item.key}`, organizationId: opts.organizationId, scope: opts.scope };
      if (patched('erasure-decision-outbox')) {
        // The delivery row is written with the decision; only ids come back into the history.
        const recorder = patched(PATCHES.light) ? decisionRecorder : lifecycleActivities;
        const recorded = await recorder.recordDecision({ ...request, outbox: true });
        outcome = recorded.outcome;
        if (outcome.accepted && outcome.changed) opts.onChanged?.(outcome);
        if (recorded.deliveryId) {
          // The update is answered once the decision and its delivery row are written; the
          // webhook's first attempt goes on beside the loop.
          if (opts.webhooks && patched(PATCHES.webhookInline)) opts.webhooks.sendRecorded(recorded.deliveryId, `decision webhook: attempt 1`);
          else opts.webhookDeliveryIds.push((await lifecycleActivities.startWebhookDelivery({ deliveryId: recorded.deliveryId })).deliveryId);
        }
      } else {
        const recorded = await lifecycleActivities.recordDecision(request);
        outcome = recorded.outcome;
        if (outcome.accepted && outcome.changed) opts.onChanged?.(outcome);
        if (recorded.webhook) opts.webhookDeliveryIds.push((await lifecycleActivities.dispatchWebhook(recorded.webhook)).deliveryId);
      }
    } catch (err) {
      if (isCancellation(err)) {
        // Retried after the purge under the same key: it replays or is refused as purged.
        opts.queue?.unshift(item);
        throw err;
      }
      // Only a permanent fault reaches here (transient ones are retried): answer and go on,
      // so one bad decision never blocks the queue, the expiry or the purge.
      if (!patched(PATCHES.decisionFailure)) throw err;
      outcome = { accepted: false, reason: 'not_recorded', message: 'the decision could not be recorded' };
    }
    item.reply?.(outcome);
  };
}

const comparable = (v: unknown): unknown => {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return null;
  if (v instanceof Date) return `date:${v.getTime()}`;
  return Array.isArray(v) ? JSON.stringify(v.map(comparable)) : v;
};

/**
 * Upserts the given search attributes. With PATCHES.light, only those whose value differs
 * from the workflow's current ones (`workflowInfo().typedSearchAttributes`: the start's, or
 * the previous run's across continue-as-new, merged with this run's upserts), and no command
 * at all when none differs: what the Temporal UI shows is the same, with fewer visibility
 * writes. A null value (unset) equals an attribute never set.
 */
export function upsertChanged(pairs: SearchAttributeUpdatePair[]): void {
  if (!patched(PATCHES.light)) {
    upsertSearchAttributes(pairs);
    return;
  }
  const current = workflowInfo().typedSearchAttributes;
  const changed = pairs.filter(({ key, value }) => comparable(current.get(key)) !== comparable(value));
  if (changed.length > 0) upsertSearchAttributes(changed);
}

export const msUntil = (iso: string | null): number | undefined =>
  iso === null ? undefined : Math.max(0, Date.parse(iso) - Date.now());

/**
 * After the purge: decisions still queued, or arriving while handlers finish, are refused
 * (and audited) by the recording activity, which finds the analysis purged.
 */
export async function drainLateDecisions(
  queue: DecisionQueue,
  apply: (item: QueuedDecision) => Promise<void>,
  refused?: { messages: RefusedMessages; record: () => Promise<void> },
): Promise<void> {
  for (;;) {
    let late: QueuedDecision | undefined;
    while ((late = queue.shift())) await apply(late);
    if (refused && refused.messages.length > 0) await refused.record();
    if (allHandlersFinished() && queue.length === 0 && (refused?.messages.length ?? 0) === 0) return;
    await condition(() => queue.length > 0 || (refused?.messages.length ?? 0) > 0 || allHandlersFinished());
  }
}

/**
 * Runs the workflow's main loop; returns true if it ended because the workflow was asked to
 * cancel (a cancel request from the UI/CLI), after which the caller purges in a
 * non-cancellable scope (`finishing`). Old histories keep ending as Canceled.
 */
export async function untilCancelled(main: () => Promise<void>): Promise<boolean> {
  try {
    await main();
    return false;
  } catch (err) {
    if (isCancellation(err) && patched(PATCHES.cancelPurges)) return true;
    throw err;
  }
}

/** The purge and what follows it, shielded from a cancellation that already happened. */
export function finishing<T>(cancelled: boolean, fn: () => Promise<T>): Promise<T> {
  return cancelled ? CancellationScope.nonCancellable(fn) : fn();
}

/** Above this many history events a workflow continues as new (unless Temporal suggests it first). */
export const DEFAULT_CONTINUE_AS_NEW_AFTER_EVENTS = 10_000;

/**
 * Whether the workflow should continue as new now: Temporal suggests it, or the history grew
 * past the bound (10,000 events by default: about a thousand decisions, far below the
 * 51,200-event limit where Temporal terminates a workflow). The patch is checked last, so
 * the marker is written only once the workflow actually continues.
 */
export function continueAsNewDue(afterEvents: number | undefined): boolean {
  const info = workflowInfo();
  const due = info.continueAsNewSuggested || info.historyLength >= (afterEvents ?? DEFAULT_CONTINUE_AS_NEW_AFTER_EVENTS);
  return due && patched(PATCHES.continueAsNew);
}

/** Whose purge a retention signal moves: what the admin check and its ledger event need. */
export interface RetentionSubject {
  organizationId: string;
  subject: { type: 'session' | 'analysis'; id: string };
}

/**
 * The retention deadline of a workflow's subject, counted from its creation and re-armed by
 * `retentionChanged` (constructing it registers the handler).
 */
export class Retention {
  purgeAt: string | null;
  private revision: number;
  private pending = false;
  private unrecorded = false;
  /** Unrevisioned changes waiting for the admin check, in arrival order (stable ledger keys). */
  private unchecked: { change: RetentionChange; key: string }[] = [];

  constructor(
    private readonly createdAt: string,
    dataRetention: string | null,
    revision = 0,
    private readonly onChange: (purgeAt: string | null) => void = () => undefined,
    refused?: RefusedMessages,
    /** A continued run carries the purge instant it had, re-arms included. */
    carriedPurgeAt?: string | null,
    /** Given, an unrevisioned signal is checked (admin) and audited before it applies. */
    private readonly guarded?: RetentionSubject,
  ) {
    this.purgeAt = carriedPurgeAt !== undefined ? carriedPurgeAt : purgeAtFor(createdAt, dataRetention);
    this.revision = revision;
    setHandler(retentionChangedSignal, (change) => {
      const checked = checkRetentionChange(change);
      if (!checked.ok && refused && patched(PATCHES.validateMessages)) {
        refused.push(checked.refusal);
        return;
      }
      // No revision: not the API's re-arm but someone at the Temporal UI/CLI. Queued for the
      // main loop, which asks the database whether the operator it names is an admin.
      if (checked.ok && checked.value.revision === undefined && guarded && patched(PATCHES.retentionSignalAdmin)) {
        this.unchecked.push({ change: checked.value, key: uuid4() });
        return;
      }
      const applied = applyRetentionChange(this.createdAt, this.revision, change);
      if (!applied) return;
      this.purgeAt = applied.purgeAt;
      this.revision = applied.revision;
      this.unrecorded ||= !applied.recorded;
      this.pending = true;
      this.onChange(this.purgeAt);
    });
  }

  /** A change arrived that the main loop has not taken yet. */
  get changed(): boolean {
    return this.pending || this.unchecked.length > 0;
  }

  /** The settings revision applied last: carried across continue-as-new. */
  get appliedRevision(): number {
    return this.revision;
  }

  get due(): boolean {
    return this.purgeAt !== null && Date.now() >= Date.parse(this.purgeAt);
  }

  msUntilDue(): number | undefined {
    return msUntil(this.purgeAt);
  }

  /**
   * Applies the pending change, if any: writes purge_at through `record` when the API's re-arm
   * did not already. Returns whether anything changed. Cleared only here, so a change signalled
   * while the loop awaited an activity is not lost.
   */
  async settle(record: (purgeAt: string | null) => Promise<void>): Promise<boolean> {
    const checked = await this.checkUnrevisioned();
    if (!this.pending && !checked) return false;
    this.pending = false;
    if (this.unrecorded) {
      this.unrecorded = false;
      await record(this.purgeAt);
    }
    return true;
  }

  /**
   * Runs the admin check (and its ledger event) for each queued unrevisioned change, in arrival
   * order, and applies those accepted. A refusal, or a check that fails for good, leaves the
   * purge instant as it was and never blocks the loop. Returns whether one applied.
   */
  private async checkUnrevisioned(): Promise<boolean> {
    if (this.unchecked.length === 0 || !this.guarded) return false;
    let appliedAny = false;
    let next: { change: RetentionChange; key: string } | undefined;
    while ((next = this.unchecked.shift())) {
      const { change, key } = next;
      let accepted = false;
      try {
        ({ accepted } = await lifecycleActivities.authorizeRetentionSignal({
          organizationId: this.guarded.organizationId,
          subject: this.guarded.subject,
          change: { dataRetention: change.dataRetention, ...(change.operatorId ? { operatorId: change.operatorId } : {}) },
          purgeAt: { before: this.purgeAt, after: purgeAtFor(this.createdAt, change.dataRetention) },
          key: `retention-signal:${this.guarded.subject.id}:${key}`,
        }));
      } catch (err) {
        // A cancel request purges next (untilCancelled): the change no longer matters.
        if (isCancellation(err)) throw err;
        // Only a permanent fault reaches here (transient ones are retried): not applied.
      }
      if (!accepted) continue;
      const applied = applyRetentionChange(this.createdAt, this.revision, change);
      if (!applied) continue;
      this.purgeAt = applied.purgeAt;
      this.revision = applied.revision;
      this.unrecorded ||= !applied.recorded;
      this.onChange(this.purgeAt);
      appliedAny = true;
    }
    return appliedAny;
  }
}

/** The `erase` update (right to erasure): it resolves once the workflow has purged. */
export class Erasure {
  request: ErasureRequest | null = null;

  constructor(purgedAt: () => string | null) {
    setHandler(
      eraseUpdate,
      async (request) => {
        this.request ??= request;
        await condition(() => purgedAt() !== null);
        return { purgedAt: purgedAt()! };
      },
      {
        validator: (request) => {
          const problem = describeIssues(erasureRequestSchema, request);
          if (problem) throw ApplicationFailure.nonRetryable(`malformed erasure request: ${problem}`, 'InvalidMessage');
        },
      },
    );
  }

  get requested(): boolean {
    return this.request !== null;
  }

  /** Who the purge is recorded for: the operator who asked, a cancel request, or retention. */
  purgedBy(cancelled = false): { actor: AuditActor; context: AuditContext; reason?: 'cancellation' } {
    const r = this.request;
    if (r) return { actor: { type: 'operator', id: r.operatorId }, context: { requestId: r.requestId, ip: r.ip, userAgent: r.userAgent } };
    if (cancelled) return { actor: { type: 'system', id: 'cancellation' }, context: {}, reason: 'cancellation' };
    return { actor: { type: 'system', id: 'retention' }, context: {} };
  }
}
