// Pieces shared by the session and standalone-analysis workflows: the analyst decision queue
// and the retention deadline. Deterministic: workflow APIs and pure domain code only.
import { allHandlersFinished, condition, currentUpdateInfo, uuid4 } from '@temporalio/workflow';
import { durationToMs, parseDuration } from '../src/domain/duration';
import type { AnalystDecision, DecisionOutcome, RetentionChange } from './definitions';

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
 * whether they came as a signal (UI/CLI) or an update (API).
 */
export class DecisionQueue {
  private items: QueuedDecision[] = [];

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
