// Which activity failures are worth retrying. Only transient faults are: the database or
// Temporal unreachable or restarting, a serialization failure or deadlock, a lock or
// statement timeout, a unique violation from a concurrent run (its retry finds the row).
// Anything else (a bug, malformed input, a row that is missing) fails the same way every
// time, so retrying it forever only hides it: such errors become non-retryable.
// Pure: inspects the error's fields, never its message text beyond known driver phrases.

/** SQLSTATE classes and codes that a retry can outlive. */
const TRANSIENT_SQLSTATE_CLASSES = ['08', '53', '58']; // connection, insufficient resources, system error
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '23505', // unique_violation: a concurrent run inserted first
]);
const TRANSIENT_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/** gRPC status codes of a Temporal client call: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE. */
const TRANSIENT_GRPC = new Set([4, 8, 10, 14]);
const TRANSIENT_NAMES = new Set(['KnexTimeoutError', 'TimeoutError', 'ConnectionError', 'WorkflowUpdateRPCTimeoutOrCancelledError']);
// node-postgres reports a dropped or refused connection without a code.
const TRANSIENT_PHRASES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /connect ECONNREFUSED/i,
  // Temporal refuses an update (FAILED_PRECONDITION) while the workflow's last task failed or
  // timed out: its worker could not run it (PostgreSQL away, a worker restarting). The next
  // attempt of the task clears it.
  /Workflow Task in failed state/i,
];

export function isTransientFailure(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errno?: unknown };
  if (typeof e.code === 'string') {
    if (TRANSIENT_SQLSTATES.has(e.code) || TRANSIENT_ERRNO.has(e.code)) return true;
    if (/^[0-9A-Z]{5}$/.test(e.code) && TRANSIENT_SQLSTATE_CLASSES.includes(e.code.slice(0, 2))) return true;
  }
  // A gRPC error of a Temporal call (grpc-js: numeric code, `details`, `metadata`).
  const grpc = e.name === 'ServiceError' || typeof (err as { details?: unknown }).details === 'string';
  if (typeof e.code === 'number' && grpc && TRANSIENT_GRPC.has(e.code)) return true;
  if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
  if (typeof e.message === 'string' && TRANSIENT_PHRASES.some((re) => re.test(e.message as string))) return true;
  // AggregateError (several connection attempts), or a wrapped cause.
  if (Array.isArray((err as { errors?: unknown }).errors) && (err as { errors: unknown[] }).errors.some((x) => isTransientFailure(x, depth + 1))) return true;
  return e.cause !== undefined && isTransientFailure(e.cause, depth + 1);
}

/**
 * What a permanent failure may say in Temporal's history: the error's class and code, never
 * its message (a driver's message can quote the offending value, personal data included).
 */
export function describePermanentFailure(err: unknown): string {
  if (typeof err !== 'object' || err === null) return `non-error thrown (${typeof err})`;
  const e = err as { name?: unknown; code?: unknown; constructor?: { name?: string } };
  const name = typeof e.name === 'string' ? e.name : (e.constructor?.name ?? 'Error');
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? ` ${String(e.code)}` : '';
  return `${name.slice(0, 60)}${code.slice(0, 20)}`;
}

/**
 * For the API: the error means PostgreSQL or Temporal is unreachable or too slow right now,
 * so the answer is 503 (try again), not 500. A unique violation is a conflict, not an outage.
 */
export function isOutage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code !== '23505' && isTransientFailure(err);
}
