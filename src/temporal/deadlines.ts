/** Temporal's answer to a start is awaited this long; past it the API answers 503. */
export const WORKFLOW_START_DEADLINE_MS = 4_000;

/**
 * Every other call of the API to Temporal (updates, signals, queries, describe) is bounded by
 * this: past it the API answers 503. An update that waits on the workflow's activities (a
 * decision, an erasure) normally answers in well under a second.
 */
export const TEMPORAL_CALL_DEADLINE_MS = 4_000;

/** Runs `fn`'s Temporal calls under the API's deadline (client.withDeadline). */
export function withCallDeadline<T>(temporal: { withDeadline<R>(deadline: number | Date, fn: () => Promise<R>): Promise<R> }, fn: () => Promise<T>): Promise<T> {
  return temporal.withDeadline(Date.now() + TEMPORAL_CALL_DEADLINE_MS, fn);
}
