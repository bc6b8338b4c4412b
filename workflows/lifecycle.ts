// Pieces shared by the session and standalone-analysis workflows: the analyst decision queue,
// the retention deadline and the erasure request. Deterministic: workflow APIs and pure domain
// code only.
import { allHandlersFinished, condition, currentUpdateInfo, patched, proxyActivities, setHandler, uuid4 } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AuditActor, AuditContext } from '../src/audit/ledger';
import { durationToMs, parseDuration } from '../src/domain/duration';
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

/** Short PostgreSQL writes: retried with backoff until the database answers. */
export const lifecycleActivities = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Retention counts from creation; null keeps indefinitely. */
export function purgeAtFor(createdAt: string, dataRetention: string | null): string | null {
  return dataRetention === null ? null : new Date(Date.parse(createdAt) + durationToMs(dataRetention)).toISOString();
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
 * Decisions are applied one at a time, in arrival order, by the workflow's main loop,
 * whether they came as a signal (UI/CLI) or an update (API). Constructing it registers both.
 */
export class DecisionQueue {
  private items: QueuedDecision[] = [];

  constructor() {
    setHandler(analystDecisionSignal, (decision) => this.fromSignal(decision));
    setHandler(decideUpdate, (decision) => this.fromUpdate(decision));
  }

  get length(): number {
    return this.items.length;
  }

  fromSignal(decision: AnalystDecision): void {
    this.items.push({ decision, key: `signal:${uuid4()}` });
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
}): (item: QueuedDecision) => Promise<void> {
  return async (item) => {
    const request = { decision: item.decision, decisionKey: `${opts.subjectId}:${item.key}`, organizationId: opts.organizationId, scope: opts.scope };
    if (patched('erasure-decision-outbox')) {
      // The delivery row is written with the decision; only ids come back into the history.
      const { outcome, deliveryId } = await lifecycleActivities.recordDecision({ ...request, outbox: true });
      if (outcome.accepted && outcome.changed) opts.onChanged?.(outcome);
      if (deliveryId) opts.webhookDeliveryIds.push((await lifecycleActivities.startWebhookDelivery({ deliveryId })).deliveryId);
      item.reply?.(outcome);
      return;
    }
    const { outcome, webhook } = await lifecycleActivities.recordDecision(request);
    if (outcome.accepted && outcome.changed) opts.onChanged?.(outcome);
    if (webhook) opts.webhookDeliveryIds.push((await lifecycleActivities.dispatchWebhook(webhook)).deliveryId);
    item.reply?.(outcome);
  };
}

export const msUntil = (iso: string | null): number | undefined =>
  iso === null ? undefined : Math.max(0, Date.parse(iso) - Date.now());

/**
 * After the purge: decisions still queued, or arriving while handlers finish, are refused
 * (and audited) by the recording activity, which finds the analysis purged.
 */
export async function drainLateDecisions(queue: DecisionQueue, apply: (item: QueuedDecision) => Promise<void>): Promise<void> {
  for (;;) {
    let late: QueuedDecision | undefined;
    while ((late = queue.shift())) await apply(late);
    if (allHandlersFinished()) return;
    await condition(() => queue.length > 0 || allHandlersFinished());
  }
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

  constructor(
    private readonly createdAt: string,
    dataRetention: string | null,
    revision = 0,
    onChange: (purgeAt: string | null) => void = () => undefined,
  ) {
    this.purgeAt = purgeAtFor(createdAt, dataRetention);
    this.revision = revision;
    setHandler(retentionChangedSignal, (change) => {
      const applied = applyRetentionChange(this.createdAt, this.revision, change);
      if (!applied) return;
      this.purgeAt = applied.purgeAt;
      this.revision = applied.revision;
      this.unrecorded ||= !applied.recorded;
      this.pending = true;
      onChange(this.purgeAt);
    });
  }

  /** A change arrived that the main loop has not taken yet. */
  get changed(): boolean {
    return this.pending;
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
    if (!this.pending) return false;
    this.pending = false;
    if (this.unrecorded) {
      this.unrecorded = false;
      await record(this.purgeAt);
    }
    return true;
  }
}

/** The `erase` update (right to erasure): it resolves once the workflow has purged. */
export class Erasure {
  request: ErasureRequest | null = null;

  constructor(purgedAt: () => string | null) {
    setHandler(eraseUpdate, async (request) => {
      this.request ??= request;
      await condition(() => purgedAt() !== null);
      return { purgedAt: purgedAt()! };
    });
  }

  get requested(): boolean {
    return this.request !== null;
  }

  /** Who the purge is recorded for: the operator who asked, or retention. */
  purgedBy(): { actor: AuditActor; context: AuditContext } {
    const r = this.request;
    return r
      ? { actor: { type: 'operator', id: r.operatorId }, context: { requestId: r.requestId, ip: r.ip, userAgent: r.userAgent } }
      : { actor: { type: 'system', id: 'retention' }, context: {} };
  }
}
