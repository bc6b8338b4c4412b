import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { LinkExpiresAt, SessionStatus as SessionStatusKey, Verdict } from '../src/temporal/searchAttributes';
import {
  JourneySessionInput,
  JourneySessionState,
  RefusalType,
  completeJourneyUpdate,
  openLinkUpdate,
  stateQuery,
} from './definitions';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One journey session, from link creation to its end: the link expires at
 * `linkExpiresAt` unless the end user completes the journey first; completion
 * fixes the consolidated verdict and sends the session-end webhook.
 */
export async function journeySession(input: JourneySessionInput): Promise<JourneySessionState> {
  const state: JourneySessionState = {
    sessionId: input.sessionId,
    organizationId: input.organizationId,
    status: 'created',
    verdict: null,
    linkExpiresAt: input.linkExpiresAt,
    completedAt: null,
    expiredAt: null,
    webhookDeliveryIds: [],
  };
  const expiresAtMs = Date.parse(input.linkExpiresAt);
  let completionRequested = false;

  const publish = (): void => {
    upsertSearchAttributes([
      { key: SessionStatusKey, value: state.status },
      { key: Verdict, value: state.verdict },
      { key: LinkExpiresAt, value: new Date(expiresAtMs) },
    ]);
    setCurrentDetails(
      `**${state.status}**${state.verdict ? ` · verdict ${state.verdict}` : ''}  \nlink expires ${input.linkExpiresAt}`,
    );
  };
  publish();

  const refuseIfLinkUnusable = (): void => {
    if (state.status === 'purged') throw ApplicationFailure.nonRetryable('session was purged', RefusalType.SessionPurged);
    if (completionRequested || state.status === 'completed') {
      throw ApplicationFailure.nonRetryable('session already completed', RefusalType.AlreadyCompleted);
    }
    // Workflow time, not the timer's firing, decides: a late timer never extends the link.
    if (state.status === 'expired' || Date.now() >= expiresAtMs) {
      throw ApplicationFailure.nonRetryable('session link expired', RefusalType.LinkExpired);
    }
  };

  setHandler(stateQuery, () => state);

  setHandler(
    openLinkUpdate,
    async () => {
      if (state.status === 'created') {
        state.status = 'in_progress';
        await acts.markSessionInProgress({ sessionId: input.sessionId });
        publish();
      }
      return { status: state.status };
    },
    { validator: refuseIfLinkUnusable },
  );

  setHandler(
    completeJourneyUpdate,
    async () => {
      completionRequested = true;
      const { verdict, completedAt } = await acts.completeSession({ sessionId: input.sessionId });
      state.status = 'completed';
      state.verdict = verdict;
      state.completedAt = completedAt;
      publish();
      return { verdict, completedAt };
    },
    { validator: refuseIfLinkUnusable },
  );

  const completedInTime = await condition(() => completionRequested, Math.max(0, expiresAtMs - Date.now()));
  if (!completedInTime) {
    state.status = 'expired';
    // The link died at its expiry instant, whenever this timer's task actually ran.
    const { expiredAt } = await acts.expireSession({ sessionId: input.sessionId, at: input.linkExpiresAt });
    state.expiredAt = expiredAt;
    publish();
    return state;
  }

  await condition(() => state.status === 'completed');
  const { deliveryId } = await acts.dispatchWebhook({
    organizationId: input.organizationId,
    event: 'session_end',
    eventKey: `session_end:${input.sessionId}`,
    sessionId: input.sessionId,
    analysisId: null,
    payload: { sessionId: input.sessionId, newStatus: state.verdict },
  });
  state.webhookDeliveryIds.push(deliveryId);

  // Let a completion update that is still replying finish before the run closes.
  await condition(allHandlersFinished);
  return state;
}
