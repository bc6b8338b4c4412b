import { patched, proxyActivities, setCurrentDetails, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WebhookDeliveryInput, WebhookDeliveryResult } from './definitions';

const acts = proxyActivities<Activities>({
  // One HTTP attempt (15 s timeout) plus its bookkeeping. Failures of the receiver are
  // results, not activity errors; the activity retries only our own faults (e.g. DB down).
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Delivers one webhook: attempts at the schedule's intervals until a 2xx, a 410, no URL
 * (skipped) or the schedule's end (failed). `Retry-After` can only lengthen a wait.
 * Each attempt and each wait carries a summary, so the Web UI's timeline reads as a log.
 */
export async function webhookDelivery(input: WebhookDeliveryInput): Promise<WebhookDeliveryResult> {
  const { deliveryId, series, retryDelaysSeconds } = input;
  const total = retryDelaysSeconds.length + 1;
  let attemptNo = 1;
  // Started after an inline first attempt failed (PATCHES.webhookInline in lifecycle.ts): its
  // wait comes first, then the schedule goes on. Only inputs that carry the field take it.
  if (input.firstAttemptNo !== undefined && input.firstAttemptNo > 1 && patched('perf-webhook-inline-continue')) {
    const waitSeconds = input.firstWaitSeconds ?? retryDelaysSeconds[input.firstAttemptNo - 2];
    attemptNo = input.firstAttemptNo;
    setCurrentDetails(`series ${series}: attempt ${attemptNo - 1} of ${total} failed (sent by the session's activity); next in ${waitSeconds}s`);
    await sleep(waitSeconds * 1000, { summary: `wait ${waitSeconds}s before attempt ${attemptNo}` });
  }
  for (; ; attemptNo++) {
    setCurrentDetails(`series ${series}: attempt ${attemptNo} of ${total} in progress`);
    const attempt = await acts.attemptWebhookDelivery.executeWithOptions({ summary: `attempt ${attemptNo}/${total}` }, [
      { deliveryId, series, attemptNo, nextDelaySeconds: retryDelaysSeconds[attemptNo - 1] ?? null },
    ]);
    if (attempt.outcome === 'success') {
      setCurrentDetails(`succeeded at attempt ${attemptNo} (HTTP ${attempt.statusCode})`);
      return 'succeeded';
    }
    if (attempt.outcome === 'skipped') {
      setCurrentDetails('skipped: no webhook URL configured');
      return 'skipped';
    }

    const exhausted = attemptNo > retryDelaysSeconds.length;
    if (attempt.stopRetrying || exhausted) {
      const reason = attempt.stopRetrying ? 'gone' : 'exhausted';
      await acts.markWebhookDeliveryFailed({ deliveryId, reason, series, attempts: attemptNo });
      setCurrentDetails(`failed after ${attemptNo} attempt(s): ${reason === 'gone' ? 'the receiver answered 410 Gone' : 'retries exhausted'}`);
      return 'failed';
    }
    const waitSeconds = Math.max(retryDelaysSeconds[attemptNo - 1], attempt.retryAfterSeconds ?? 0);
    const why = attempt.statusCode ? `HTTP ${attempt.statusCode}` : (attempt.error ?? 'error');
    setCurrentDetails(`attempt ${attemptNo} of ${total} ${attempt.outcome} (${why}); next in ${waitSeconds}s`);
    await sleep(waitSeconds * 1000, {
      summary: `wait ${waitSeconds}s before attempt ${attemptNo + 1}${waitSeconds > retryDelaysSeconds[attemptNo - 1] ? ' (Retry-After)' : ''}`,
    });
  }
}
