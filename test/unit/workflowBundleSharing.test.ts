// The worker's workflow bundle evaluates zod once in the workflow thread's shared V8 context,
// not once per workflow context (src/temporal/workflowPreload.ts): about 0.6 MB of heap per
// cached or replayed workflow (docs/performance.md, "Worker memory"). Runs the SDK's own
// reusable-context creator on the product's bundle; no server.
import { TypedSearchAttributes } from '@temporalio/common';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm';
import { workflowBundle } from '../../src/temporal/worker';

type Creator = ReusableVMWorkflowCreator & { context: { __TEMPORAL_ACTIVATOR__?: { moduleCache?: Map<string, unknown> } } };

async function newContext(creator: ReusableVMWorkflowCreator, runId: string) {
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

it('evaluates zod once for all workflow contexts (the message schemas stay per workflow; they parse: replay and poisonMessages tests)', async () => {
  const bundle = await workflowBundle();
  const creator = (await ReusableVMWorkflowCreator.create(parseWorkflowCode(bundle.code), 5000, new Set<string>(), undefined)) as Creator;
  try {
    for (const runId of ['run-1', 'run-2']) {
      const wf = await newContext(creator, runId);
      const own = [...(creator.context.__TEMPORAL_ACTIVATOR__?.moduleCache?.keys() ?? [])];
      expect(own).toContain('./src/domain/messages.ts'); // the schemas stay per workflow
      expect(own.filter((id) => id.includes('/zod/'))).toEqual([]);
      await wf.dispose();
    }
  } finally {
    await creator.destroy();
  }
}, 120_000);
