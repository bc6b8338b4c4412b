import { allHandlersFinished, condition, continueAsNew, patched, setCurrentDetails, setHandler } from '@temporalio/workflow';
import { CorrelationId, PurgeAt } from '../src/temporal/searchAttributes';
import { StandaloneAnalysisInput, StandaloneAnalysisState, analysisStateQuery } from './definitions';
import {
  DecisionQueue,
  Erasure,
  InlineWebhooks,
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

/**
 * An analysis outside any journey session (`analysis-<analysisId>`): it takes analysts'
 * decisions and sends decision webhooks until retention (counted from its creation) purges it.
 */
export async function standaloneAnalysis(input: StandaloneAnalysisInput): Promise<StandaloneAnalysisState> {
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
    { organizationId: input.organizationId, subject: { type: 'analysis', id: input.analysisId } },
  );
  const state: StandaloneAnalysisState = {
    analysisId: input.analysisId,
    organizationId: input.organizationId,
    status: 'active',
    purgeAt: retention.purgeAt,
    purgedAt: null,
    webhookDeliveryIds: [...(carried?.webhookDeliveryIds ?? [])],
  };
  stateBuilt = true;
  const decisions = new DecisionQueue(refused);
  const erasure = new Erasure(() => state.purgedAt);

  const publish = (): void => {
    upsertChanged([
      { key: PurgeAt, value: state.purgeAt ? new Date(state.purgeAt) : null },
      // The customer's reference (as a keyed hash) goes with the record, as for sessions.
      ...(state.status === 'purged' && patched('erasure-standalone-clears-correlation-id') ? [{ key: CorrelationId, value: null }] : []),
    ]);
    setCurrentDetails(`**${state.status}**  \n${state.purgeAt ? `purge at ${state.purgeAt}` : 'kept until erased (no retention)'}`);
  };
  publish();
  setHandler(analysisStateQuery, () => state);

  const webhooks = new InlineWebhooks(state.webhookDeliveryIds);
  const applyDecision = decisionApplier({
    organizationId: input.organizationId,
    subjectId: input.analysisId,
    scope: { analysisId: input.analysisId },
    webhookDeliveryIds: state.webhookDeliveryIds,
    queue: decisions,
    webhooks,
  });
  const recordRefusals = (): Promise<void> => refused.record(input.organizationId, { type: 'analysis', id: input.analysisId });
  const wake = (): boolean => erasure.requested || decisions.length > 0 || refused.length > 0 || retention.changed;

  const cancelled = await untilCancelled(async () => {
    for (;;) {
      const purgeDeadline = retention.msUntilDue();
      if (purgeDeadline !== undefined) await condition(wake, purgeDeadline);
      else await condition(wake);

      if (refused.length > 0) await recordRefusals();
      if (await retention.settle((purgeAt) => acts.recordPurgeAt({ analysisId: input.analysisId, purgeAt }))) publish();
      if (erasure.requested || retention.due) return;
      let next: QueuedDecision | undefined;
      while ((next = decisions.shift())) await applyDecision(next);

      if (continueAsNewDue(input.continueAsNewAfterEvents)) {
        await condition(() => (allHandlersFinished() && webhooks.idle) || wake());
        if (allHandlersFinished() && webhooks.idle && !wake() && !retention.due) {
          await continueAsNew<typeof standaloneAnalysis>({
            ...input,
            retentionRevision: retention.appliedRevision,
            carried: { purgeAt: retention.purgeAt, webhookDeliveryIds: state.webhookDeliveryIds.slice(-20), runs: (carried?.runs ?? 0) + 1 },
          });
        }
      }
    }
  });

  // A cancel request purges too (non-cancellable), and the workflow ends cleanly.
  return finishing(cancelled, async () => {
    const { purgedAt } = await acts.purgeStandaloneAnalysis({
      analysisId: input.analysisId,
      organizationId: input.organizationId,
      ...erasure.purgedBy(cancelled),
    });
    state.status = 'purged';
    state.purgedAt = purgedAt;
    publish();
    await drainLateDecisions(decisions, applyDecision, { messages: refused, record: recordRefusals });
    await webhooks.drain();
    return state;
  });
}
