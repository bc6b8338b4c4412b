import { condition, patched, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { CorrelationId, PurgeAt } from '../src/temporal/searchAttributes';
import { StandaloneAnalysisInput, StandaloneAnalysisState, analysisStateQuery } from './definitions';
import { DecisionQueue, Erasure, QueuedDecision, Retention, decisionApplier, drainLateDecisions, lifecycleActivities as acts } from './lifecycle';

/**
 * An analysis outside any journey session (`analysis-<analysisId>`): it takes analysts'
 * decisions and sends decision webhooks until retention (counted from its creation) purges it.
 */
export async function standaloneAnalysis(input: StandaloneAnalysisInput): Promise<StandaloneAnalysisState> {
  const retention = new Retention(input.createdAt, input.dataRetention, input.retentionRevision, (purgeAt) => (state.purgeAt = purgeAt));
  const state: StandaloneAnalysisState = {
    analysisId: input.analysisId,
    organizationId: input.organizationId,
    status: 'active',
    purgeAt: retention.purgeAt,
    purgedAt: null,
    webhookDeliveryIds: [],
  };
  const decisions = new DecisionQueue();
  const erasure = new Erasure(() => state.purgedAt);

  const publish = (): void => {
    upsertSearchAttributes([
      { key: PurgeAt, value: state.purgeAt ? new Date(state.purgeAt) : null },
      // The customer's reference (as a keyed hash) goes with the record, as for sessions.
      ...(state.status === 'purged' && patched('erasure-standalone-clears-correlation-id') ? [{ key: CorrelationId, value: null }] : []),
    ]);
    setCurrentDetails(`**${state.status}**  \n${state.purgeAt ? `purge at ${state.purgeAt}` : 'kept until erased (no retention)'}`);
  };
  publish();
  setHandler(analysisStateQuery, () => state);

  const applyDecision = decisionApplier({
    organizationId: input.organizationId,
    subjectId: input.analysisId,
    scope: { analysisId: input.analysisId },
    webhookDeliveryIds: state.webhookDeliveryIds,
  });


  for (;;) {
    const wake = (): boolean => erasure.requested || decisions.length > 0 || retention.changed;
    const purgeDeadline = retention.msUntilDue();
    if (purgeDeadline !== undefined) await condition(wake, purgeDeadline);
    else await condition(wake);

    if (await retention.settle((purgeAt) => acts.recordPurgeAt({ analysisId: input.analysisId, purgeAt }))) publish();
    if (erasure.requested || retention.due) break;
    let next: QueuedDecision | undefined;
    while ((next = decisions.shift())) await applyDecision(next);
  }

  const { purgedAt } = await acts.purgeStandaloneAnalysis({
    analysisId: input.analysisId,
    organizationId: input.organizationId,
    ...erasure.purgedBy(),
  });
  state.status = 'purged';
  state.purgedAt = purgedAt;
  publish();
  await drainLateDecisions(decisions, applyDecision);
  return state;
}
