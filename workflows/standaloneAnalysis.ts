import { condition, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { PurgeAt } from '../src/temporal/searchAttributes';
import {
  ErasureRequest,
  StandaloneAnalysisInput,
  StandaloneAnalysisState,
  analysisStateQuery,
  analystDecisionSignal,
  decideUpdate,
  eraseUpdate,
  retentionChangedSignal,
} from './definitions';
import { DecisionQueue, QueuedDecision, applyRetentionChange, drainLateDecisions, msUntil, purgeAtFor } from './lifecycle';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * An analysis outside any journey session (`analysis-<analysisId>`): it takes analysts'
 * decisions and sends decision webhooks until retention (counted from its creation) purges it.
 */
export async function standaloneAnalysis(input: StandaloneAnalysisInput): Promise<StandaloneAnalysisState> {
  const state: StandaloneAnalysisState = {
    analysisId: input.analysisId,
    organizationId: input.organizationId,
    status: 'active',
    purgeAt: purgeAtFor(input.createdAt, input.dataRetention),
    purgedAt: null,
    webhookDeliveryIds: [],
  };
  const decisions = new DecisionQueue();
  let retentionChanged = false;
  let retentionRevision = input.retentionRevision ?? 0;
  let purgeAtUnrecorded = false;
  let erasure: ErasureRequest | null = null;

  const publish = (): void => {
    upsertSearchAttributes([{ key: PurgeAt, value: state.purgeAt ? new Date(state.purgeAt) : null }]);
    setCurrentDetails(`**${state.status}**  \n${state.purgeAt ? `purge at ${state.purgeAt}` : 'kept until erased (no retention)'}`);
  };
  publish();

  setHandler(analysisStateQuery, () => state);
  setHandler(analystDecisionSignal, (decision) => decisions.fromSignal(decision));
  setHandler(decideUpdate, (decision) => decisions.fromUpdate(decision));
  setHandler(retentionChangedSignal, (change) => {
    const applied = applyRetentionChange(input.createdAt, retentionRevision, change);
    if (!applied) return;
    state.purgeAt = applied.purgeAt;
    retentionRevision = applied.revision;
    purgeAtUnrecorded ||= !applied.recorded;
    retentionChanged = true;
  });
  setHandler(eraseUpdate, async (request) => {
    erasure ??= request;
    await condition(() => state.status === 'purged');
    return { purgedAt: state.purgedAt! };
  });

  const applyDecision = async (item: QueuedDecision): Promise<void> => {
    const { outcome, webhook } = await acts.recordDecision({
      decision: item.decision,
      decisionKey: `${input.analysisId}:${item.key}`,
      organizationId: input.organizationId,
      scope: { analysisId: input.analysisId },
    });
    if (webhook) state.webhookDeliveryIds.push((await acts.dispatchWebhook(webhook)).deliveryId);
    item.reply?.(outcome);
  };

  for (;;) {
    const wake = (): boolean => erasure !== null || decisions.length > 0 || retentionChanged;
    const purgeDeadline = msUntil(state.purgeAt);
    if (purgeDeadline !== undefined) await condition(wake, purgeDeadline);
    else await condition(wake);

    // Cleared only here: a change signalled while the loop awaited an activity is not lost.
    if (retentionChanged) {
      retentionChanged = false;
      if (purgeAtUnrecorded) {
        purgeAtUnrecorded = false;
        await acts.recordPurgeAt({ analysisId: input.analysisId, purgeAt: state.purgeAt });
      }
      publish();
    }
    if (erasure || (state.purgeAt !== null && Date.now() >= Date.parse(state.purgeAt))) break;
    let next: QueuedDecision | undefined;
    while ((next = decisions.shift())) await applyDecision(next);
  }

  const erasedBy = erasure as ErasureRequest | null;
  const { purgedAt } = await acts.purgeStandaloneAnalysis({
    analysisId: input.analysisId,
    organizationId: input.organizationId,
    actor: erasedBy ? { type: 'operator', id: erasedBy.operatorId } : { type: 'system', id: 'retention' },
    context: erasedBy ? { requestId: erasedBy.requestId, ip: erasedBy.ip, userAgent: erasedBy.userAgent } : {},
  });
  state.status = 'purged';
  state.purgedAt = purgedAt;
  publish();
  await drainLateDecisions(decisions, applyDecision);
  return state;
}
