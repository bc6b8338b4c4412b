import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AiStatus } from '../src/domain/verdict';
import {
  CorrelationId,
  LinkExpiresAt,
  PurgeAt,
  SessionStatus as SessionStatusKey,
  Verdict,
} from '../src/temporal/searchAttributes';
import { JourneySessionInput, JourneySessionState, RefusalType, completeJourneyUpdate, openLinkUpdate, stateQuery } from './definitions';
import {
  DecisionQueue,
  Erasure,
  InlineWebhooks,
  LocalActivityLock,
  PATCHES,
  QueuedDecision,
  RefusedMessages,
  Retention,
  continueAsNewDue,
  decisionApplier,
  drainLateDecisions,
  finishing,
  untilCancelled,
  upsertChanged,
  lifecycleActivities as acts,
} from './lifecycle';

// The end user waits on these two writes (opening the link, completing the journey): run them
// as local activities, in the workflow task that handles the update, without a round trip
// through an activity task queue. They give up after 30 s (the database down longer): the
// update fails, the API has long answered 503, and the end user tries again.
const forEndUser = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  scheduleToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});
// Opening the link (patched PATCHES.openLinkBounded): a few quick attempts, then the update
// fails and the API answers 503 (the end user retries). The schedule-to-close bound above was
// not enough: with PostgreSQL stopped, the opening retried inside the update for minutes.
const forLinkOpening = proxyLocalActivities<Activities>({
  startToCloseTimeout: '3 seconds',
  scheduleToCloseTimeout: '4 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 second', maximumAttempts: 3 },
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
  const carried = input.carried;
  const refused = new RefusedMessages();
  // A retention signal sent before the workflow's first task (a re-arm racing the start) is
  // delivered while `new Retention` registers its handler, before `state` exists: it then only
  // moves retention.purgeAt, which `state` starts from. (Reading `state` there threw, and the
  // first task failed for good. No patch: only executions whose first task failed change, so
  // no history holds commands of theirs.)
  let stateBuilt = false;
  const retention = new Retention(
    input.createdAt,
    input.dataRetention,
    input.retentionRevision,
    (purgeAt) => {
      if (stateBuilt) state.purgeAt = purgeAt;
    },
    refused,
    carried?.purgeAt,
    { organizationId: input.organizationId, subject: { type: 'session', id: input.sessionId } },
  );
  // A run started by the reconciler carries on from the state its record holds; a run
  // continued as new, from the state the previous run ended with.
  const restored = carried ?? (input.restored && patched('rel-recon-restored-state') ? input.restored : undefined);
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
    webhookDeliveryIds: [...(carried?.webhookDeliveryIds ?? [])],
  };
  stateBuilt = true;
  const expiresAtMs = Date.parse(input.linkExpiresAt);
  const decisions = new DecisionQueue(refused);
  const erasure = new Erasure(() => state.purgedAt);
  let completionRequested = false;
  let sessionEndSent = carried?.sessionEndSent ?? false;

  const isOpen = (): boolean => state.status === 'created' || state.status === 'in_progress';
  const publish = (): void => {
    upsertChanged([
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

  // The opening, the completion and the decisions' recording: one local activity at a time.
  const oneAtATime = new LocalActivityLock();

  setHandler(stateQuery, () => state);
  setHandler(
    openLinkUpdate,
    () => oneAtATime.run(async () => {
      if (state.status === 'created') {
        state.status = 'in_progress';
        if (patched(PATCHES.openLinkBounded)) {
          try {
            await forLinkOpening.markSessionInProgress({ sessionId: input.sessionId });
          } catch (err) {
            // Not recorded: the link stays openable, and the next opening writes it.
            state.status = 'created';
            throw err;
          }
        } else {
          await forEndUser.markSessionInProgress({ sessionId: input.sessionId });
        }
        publish();
      }
      return { status: state.status };
    }),
    { validator: refuseIfLinkUnusable },
  );
  setHandler(
    completeJourneyUpdate,
    // Not async itself: the handler's promise is the step's (see LocalActivityLock.run).
    () => {
      completionRequested = true;
      return oneAtATime.run(async () => {
        let completed: { verdict: AiStatus; completedAt: string };
        try {
          completed = await forEndUser.completeSession({ sessionId: input.sessionId });
        } catch (err) {
          // A completion that failed for good must not hold back the link expiry and the purge.
          if (patched(PATCHES.completionReset)) completionRequested = false;
          throw err;
        }
        const { verdict, completedAt } = completed;
        state.status = 'completed';
        state.verdict = verdict;
        state.completedAt = completedAt;
        publish();
        return { verdict, completedAt };
      });
    },
    { validator: refuseIfLinkUnusable },
  );

  const webhooks = new InlineWebhooks(state.webhookDeliveryIds);
  const recordDecision = decisionApplier({
    organizationId: input.organizationId,
    subjectId: input.sessionId,
    scope: { sessionId: input.sessionId },
    webhookDeliveryIds: state.webhookDeliveryIds,
    webhooks,
    onChanged: ({ newStatus }) => {
      state.verdict = newStatus;
      publish();
    },
    queue: decisions,
  });
  const applyDecision = (item: QueuedDecision): Promise<void> => oneAtATime.run(() => recordDecision(item));
  const recordRefusals = (): Promise<void> => refused.record(input.organizationId, { type: 'session', id: input.sessionId });


  const wake = (): boolean =>
    erasure.requested ||
    decisions.length > 0 ||
    refused.length > 0 ||
    retention.changed ||
    (state.status === 'completed' && !sessionEndSent);

  const linkDue = (): boolean => isOpen() && !completionRequested && Date.now() >= expiresAtMs;

  const cancelled = await untilCancelled(async () => {
    for (;;) {
      const linkDeadline = isOpen() && !completionRequested ? Math.max(0, expiresAtMs - Date.now()) : undefined;
      const deadlines = [linkDeadline, retention.msUntilDue()].filter((d): d is number => d !== undefined);
      if (deadlines.length > 0) await condition(wake, Math.min(...deadlines));
      else await condition(wake);

      if (refused.length > 0) await recordRefusals();
      if (await retention.settle((purgeAt) => acts.recordPurgeAt({ sessionId: input.sessionId, purgeAt }))) publish();
      // Link expiry and purge due in the same task (a late worker): the link expired first, so
      // its expiry is recorded before the purge.
      const expireFirst =
        retention.due && !erasure.requested && linkDue() && patched(PATCHES.expireBeforePurge);
      if ((erasure.requested || retention.due) && !expireFirst) return;
      if (linkDue()) {
        // The link died at its expiry instant, whenever this timer's task actually ran. The state
        // follows the record, so whoever sees `expired` here finds it in PostgreSQL too.
        await acts.expireSession({ sessionId: input.sessionId, at: input.linkExpiresAt });
        state.status = 'expired';
        state.expiredAt = input.linkExpiresAt;
        publish();
      }
      if (expireFirst) return;
      if (state.status === 'completed' && !sessionEndSent) {
        sessionEndSent = true;
        const sessionEnd = {
          organizationId: input.organizationId,
          event: 'session_end' as const,
          eventKey: `session_end:${input.sessionId}`,
          sessionId: input.sessionId,
          analysisId: null,
          payload: { sessionId: input.sessionId, newStatus: state.verdict },
        };
        // Patched: sent beside the loop, which goes on to the decisions, the expiry, the purge.
        if (patched(PATCHES.webhookInline)) webhooks.send(sessionEnd, 'session_end webhook: attempt 1');
        else state.webhookDeliveryIds.push((await acts.dispatchWebhook(sessionEnd)).deliveryId);
      }
      let next: QueuedDecision | undefined;
      while ((next = decisions.shift())) await applyDecision(next);

      // A long-lived session (many decisions or re-arms, or kept indefinitely) starts a fresh
      // history before Temporal's limit, once no handler is running and nothing is queued.
      if (continueAsNewDue(input.continueAsNewAfterEvents)) {
        await condition(() => (allHandlersFinished() && webhooks.idle) || wake());
        if (allHandlersFinished() && webhooks.idle && !wake() && !retention.due && !(isOpen() && Date.now() >= expiresAtMs)) {
          await continueAsNew<typeof journeySession>({
            ...input,
            retentionRevision: retention.appliedRevision,
            carried: {
              status: state.status,
              verdict: state.verdict,
              completedAt: state.completedAt,
              expiredAt: state.expiredAt,
              purgeAt: retention.purgeAt,
              sessionEndSent,
              webhookDeliveryIds: state.webhookDeliveryIds.slice(-20),
              runs: (carried?.runs ?? 0) + 1,
            },
          });
        }
      }
    }
  });

  // A cancel request (Temporal UI/CLI) purges too, shielded from that cancellation, and the
  // workflow ends cleanly: nothing that must be deleted depends on how the workflow stops.
  return finishing(cancelled, async () => {
    // A completion in flight finishes first, so the purge is the last write.
    await condition(() => !completionRequested || state.status === 'completed');
    const { purgedAt } = await acts.purgeSession({
      sessionId: input.sessionId,
      organizationId: input.organizationId,
      ...erasure.purgedBy(cancelled),
    });
    state.status = 'purged';
    state.purgedAt = purgedAt;
    publish();

    await drainLateDecisions(decisions, applyDecision, { messages: refused, record: recordRefusals });
    // Webhook sends still in flight finish (or are retried) before the workflow ends.
    await webhooks.drain();
    return state;
  });
}
