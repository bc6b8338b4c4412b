// Workflow contexts of the product's bundle made by the SDK's reusable-V8-context creator, with no
// server and no activation: what the worker's workflow thread builds for each cached or replayed
// session. Used by test/unit/workflowBundleSharing.test.ts and bench/workflowContextHeap.ts.
import { TypedSearchAttributes } from '@temporalio/common';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm';

export type ContextCreator = ReusableVMWorkflowCreator & { context: { __TEMPORAL_ACTIVATOR__?: { moduleCache?: Map<string, unknown> } } };

export async function contextCreator(bundleCode: string): Promise<ContextCreator> {
  return (await ReusableVMWorkflowCreator.create(parseWorkflowCode(bundleCode), 5000, new Set<string>(), undefined)) as ContextCreator;
}

/** The module ids the creator's current context evaluated for itself (not the shared ones). */
export function ownModules(creator: ContextCreator): string[] {
  return [...(creator.context.__TEMPORAL_ACTIVATOR__?.moduleCache?.keys() ?? [])];
}

/** One journeySession context (its workflow not started). */
export async function newWorkflowContext(creator: ReusableVMWorkflowCreator, runId: string) {
  return creator.createWorkflow({
    info: {
      workflowId: `session-${runId}`, runId, workflowType: 'journeySession', searchAttributes: {}, typedSearchAttributes: new TypedSearchAttributes(),
      taskQueue: 'q', namespace: 'default', firstExecutionRunId: runId, originalExecutionRunId: runId, startTime: new Date(), runStartTime: new Date(),
      taskTimeoutMs: 10_000, attempt: 1, historyLength: 3, historySize: 0, continueAsNewSuggested: false, currentBuildId: '',
      unsafe: { now: Date.now, isReplaying: false, isReplayingHistoryEvents: false, random: Math.random },
    } as never,
    randomnessSeed: [1, 2, 3, 4, 5, 6, 7, 8] as never,
    now: Date.now(),
    showStackTraceSources: false,
  } as never);
}
