import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { describePermanentFailure, isTransientFailure } from '../src/domain/failures';
import { log } from '../src/log';

/** The failure type of an activity error that no retry can fix (see src/domain/failures.ts). */
export const PERMANENT_FAILURE = 'PermanentActivityFailure';

/**
 * Wraps each activity so that only transient faults are retried: typed failures pass as
 * thrown, transient ones (database or Temporal unreachable, serialization failure, timeouts)
 * stay retryable, anything else becomes a non-retryable ApplicationFailure that names the
 * error's class and code only (the full error goes to the log, which never holds values).
 */
export function classifyFailures<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        if (err instanceof TemporalFailure || isTransientFailure(err)) throw err;
        const what = describePermanentFailure(err);
        log.error('activity failed permanently', { activity: name, error: what });
        throw ApplicationFailure.create({ message: `${name}: ${what}`, type: PERMANENT_FAILURE, nonRetryable: true });
      }
    };
  }
  return wrapped as T;
}
