import type { Client } from '@temporalio/client';

/** Temporal's answer to a start is awaited this long by default; past it the API answers 503. */
export const WORKFLOW_START_DEADLINE_MS = 4_000;

/**
 * Every other call of the API to Temporal (updates, signals, queries, describe) is bounded by
 * this: past it the API answers 503. An update that waits on the workflow's activities (a
 * decision, an erasure) normally answers in well under a second.
 */
export const TEMPORAL_CALL_DEADLINE_MS = 4_000;

/**
 * Runs `fn`'s Temporal calls under the API's deadline (client.withDeadline): the client's
 * configured one (TEMPORAL_START_DEADLINE_MS, set by createApp/createWorker) when it has one.
 */
export function withCallDeadline<T>(temporal: { withDeadline<R>(deadline: number | Date, fn: () => Promise<R>): Promise<R> }, fn: () => Promise<T>): Promise<T> {
  return temporal.withDeadline(Date.now() + (deadlines.get(temporal as Client) ?? TEMPORAL_CALL_DEADLINE_MS), fn);
}

// Per client, so a process (or a test) holding two clients can bound each its own way;
// set from TEMPORAL_START_DEADLINE_MS by createApp and createWorker.
const deadlines = new WeakMap<Client, number>();

export function setStartDeadline(client: Client, ms: number): void {
  deadlines.set(client, ms);
}

/** The instant by which `client`'s start (or probe) must have been answered. */
export function startDeadline(client: Client): number {
  return Date.now() + (deadlines.get(client) ?? WORKFLOW_START_DEADLINE_MS);
}
