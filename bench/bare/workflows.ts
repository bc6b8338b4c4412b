// Bare Temporal, the yardstick of `npm run bench`: the smallest workflow with the product's
// shape (opened, waits on a timer, a signal makes it run one activity that POSTs a webhook).
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BareActivities } from './activities';

export const goSignal = defineSignal('go');

const { post } = proxyActivities<BareActivities>({ startToCloseTimeout: '30 seconds' });

export async function bareJourney(input: { url: string; id: string }): Promise<void> {
  let go = false;
  setHandler(goSignal, () => {
    go = true;
  });
  if (await condition(() => go, '1 day')) await post(input.url, JSON.stringify({ id: input.id }));
}
