import { ApplicationFailure, condition, patched, proxyLocalActivities, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  CorrelationId,
  LinkExpiresAt,
  PurgeAt,
  SessionStatus as SessionStatusKey,
  Verdict,
} from '../src/temporal/searchAttributes';
import { JourneySessionInput, JourneySessionState, RefusalType, completeJourneyUpdate, openLinkUpdate, stateQuery } from './definitions';
import { DecisionQueue, Erasure, QueuedDecision, Retention, decisionApplier, drainLateDecisions, lifecycleActivities as acts } from './lifecycle';

// The end user waits on these two writes (opening the link, completing the journey): run them
// as local activities, in the workflow task that handles the update, without a round trip
// through an activity task queue.
const forEndUser = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

/**
 * One journey session, from link creation until retention purges it:
 *  1. the link works until `linkExpiresAt` unless the end user completes the journey first;
 *     completion fixes the consolidated verdict and sends the session-end webhook;
 *  2. analysts' decisions (signal or update) are recorded and sent as decision webhooks;
 *  3. at `purgeAt` (re-armed when the organization's retention changes), or on erasure,
 *     the personal data is deleted and the workflow ends.
 */
export async function journeySession(input: JourneySessionInput): Promise<JourneySessionState> {
  const retention = new Retention(input.createdAt, input.dataRetention, input.retentionRevision, (purgeAt) => (state.purgeAt = purgeAt));
  // A run started by the reconciler carries on from the state its record holds.
  const restored = input.restored && patched('rel-recon-restored-state') ? input.restored : undefined;
  const state: JourneySessionState = {
    sessionId: input.sessionId,
    organizationId: input.organizationId,
    status: restored?.status ?? 'created',
    verdict: restored?.verdict ?? null,
    linkExpiresAt: input.linkExpiresAt,
    completedAt: restored?.completedAt ?? null,
    expiredAt: restored?.expiredAt ?? null,
    purgeAt: retention.purgeAt,
    purgedAt: null,
    webhookDeliveryIds: [],
  };
  const expiresAtMs = Date.parse(input.linkExpiresAt);
  const decisions = new DecisionQueue();
  const erasure = new Erasure(() => state.purgedAt);
  let completionRequested = false;
  let sessionEndSent = false;

  const isOpen = (): boolean => state.status === 'created' || state.status === 'in_progress';
  const publish = (): void => {
    upsertSearchAttributes([
      { key: SessionStatusKey, value: state.status },
      { key: Verdict, value: state.verdict },
      { key: LinkExpiresAt, value: new Date(expiresAtMs) },
      { key: PurgeAt, value: state.purgeAt ? new Date(state.purgeAt) : null },
      // The customer's own identifier goes with the personal data.
      ...(state.status === 'purged' ? [{ key: CorrelationId, value: null }] : []),
    ]);
    setCurrentDetails(
      [
        `**${state.status}**${state.verdict ? ` · verdict ${state.verdict}` : ''}`,
        `link expires ${input.linkExpiresAt}`,
        state.purgeAt ? `purge at ${state.purgeAt}` : 'kept until erased (no retention)',
      ].join('  \n'),
    );
  };
  publish();

  const refuseIfLinkUnusable = (): void => {
    if (state.status === 'purged' || erasure.requested) throw ApplicationFailure.nonRetryable('session was purged', RefusalType.SessionPurged);
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
        await forEndUser.markSessionInProgress({ sessionId: input.sessionId });
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
      const { verdict, completedAt } = await forEndUser.completeSession({ sessionId: input.sessionId });
      state.status = 'completed';
      state.verdict = verdict;
      state.completedAt = completedAt;
      publish();
      return { verdict, completedAt };
    },
    { validator: refuseIfLinkUnusable },
  );

  const applyDecision = decisionApplier({
    organizationId: input.organizationId,
    subjectId: input.sessionId,
    scope: { sessionId: input.sessionId },
    webhookDeliveryIds: state.webhookDeliveryIds,
    onChanged: ({ newStatus }) => {
      state.verdict = newStatus;
      publish();
    },
  });


  for (;;) {
    const linkDeadline = isOpen() && !completionRequested ? Math.max(0, expiresAtMs - Date.now()) : undefined;
    const deadlines = [linkDeadline, retention.msUntilDue()].filter((d): d is number => d !== undefined);
    const wake = (): boolean =>
      erasure.requested || decisions.length > 0 || retention.changed || (state.status === 'completed' && !sessionEndSent);
    if (deadlines.length > 0) await condition(wake, Math.min(...deadlines));
    else await condition(wake);

    if (await retention.settle((purgeAt) => acts.recordPurgeAt({ sessionId: input.sessionId, purgeAt }))) publish();
    if (erasure.requested || retention.due) break;
    if (isOpen() && !completionRequested && Date.now() >= expiresAtMs) {
      // The link died at its expiry instant, whenever this timer's task actually ran. The state
      // follows the record, so whoever sees `expired` here finds it in PostgreSQL too.
      await acts.expireSession({ sessionId: input.sessionId, at: input.linkExpiresAt });
      state.status = 'expired';
      state.expiredAt = input.linkExpiresAt;
      publish();
    }
    if (state.status === 'completed' && !sessionEndSent) {
      sessionEndSent = true;
      const { deliveryId } = await acts.dispatchWebhook({
        organizationId: input.organizationId,
        event: 'session_end',
        eventKey: `session_end:${input.sessionId}`,
        sessionId: input.sessionId,
        analysisId: null,
        payload: { sessionId: input.sessionId, newStatus: state.verdict },
      });
      state.webhookDeliveryIds.push(deliveryId);
    }
    let next: QueuedDecision | undefined;
    while ((next = decisions.shift())) await applyDecision(next);
  }

  // A completion in flight finishes first, so the purge is the last write.
  await condition(() => !completionRequested || state.status === 'completed');
  const { purgedAt } = await acts.purgeSession({
    sessionId: input.sessionId,
    organizationId: input.organizationId,
    ...erasure.purgedBy(),
  });
  state.status = 'purged';
  state.purgedAt = purgedAt;
  publish();

  await drainLateDecisions(decisions, applyDecision);
  return state;
}
