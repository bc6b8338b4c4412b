import type { Client } from '@temporalio/client';

/** Temporal's answer to a start is awaited this long by default; past it the API answers 503. */
export const WORKFLOW_START_DEADLINE_MS = 4_000;

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
