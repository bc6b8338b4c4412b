/** Temporal's answer to a start is awaited this long; past it the API answers 503. */
export const WORKFLOW_START_DEADLINE_MS = 4_000;
