import { proxyActivities, setCurrentDetails, sleep } from '@temporalio/workflow';
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
 */
export async function webhookDelivery(input: WebhookDeliveryInput): Promise<WebhookDeliveryResult> {
  const { deliveryId, series, retryDelaysSeconds } = input;
  for (let attemptNo = 1; ; attemptNo++) {
    const attempt = await acts.attemptWebhookDelivery({ deliveryId, series, attemptNo });
    if (attempt.outcome === 'success') return 'succeeded';
    if (attempt.outcome === 'skipped') return 'skipped';

    const exhausted = attemptNo > retryDelaysSeconds.length;
    if (attempt.stopRetrying || exhausted) {
      await acts.markWebhookDeliveryFailed({ deliveryId, reason: attempt.stopRetrying ? 'gone' : 'exhausted' });
      setCurrentDetails(`failed after ${attemptNo} attempt(s)`);
      return 'failed';
    }
    const waitSeconds = Math.max(retryDelaysSeconds[attemptNo - 1], attempt.retryAfterSeconds ?? 0);
    setCurrentDetails(`attempt ${attemptNo} failed (${attempt.statusCode ?? attempt.error ?? 'error'}); next in ${waitSeconds}s`);
    await sleep(waitSeconds * 1000);
  }
}
