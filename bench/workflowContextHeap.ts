// V8 heap held by one workflow context of the product's bundle, with and without the shared
// (preloaded) modules of src/temporal/worker.ts — what each cached or replayed session costs
// the workflow thread before its own state:
//   node --expose-gc --import tsx bench/workflowContextHeap.ts [workflows]
// It creates `workflows` (default 200) journeySession contexts with the SDK's reusable-V8-context
// creator in this process (no server, no activation) and prints the heap growth per context and
// the modules each context evaluates for itself. Prints figures, never fails on them.
import v8 from 'node:v8';
import { TypedSearchAttributes } from '@temporalio/common';
import { bundleWorkflowCode } from '@temporalio/worker';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm';
import { failureConverterPath } from '../src/payloads/dataConverter';
import { sharedWorkflowModules, workflowsPath } from '../src/temporal/worker';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc --import tsx bench/workflowContextHeap.ts');
const usedMb = () => {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size / 2 ** 20;
};
const noop = (): void => undefined;
const logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };
const N = Number(process.argv[2] ?? 200);

async function measure(preloadModules: string[]) {
  const bundle = await bundleWorkflowCode({ workflowsPath, failureConverterPath, preloadModules, logger });
  const creator = await ReusableVMWorkflowCreator.create(parseWorkflowCode(bundle.code), 5000, new Set<string>(), undefined);
  const before = usedMb();
  const held = [];
  for (let i = 0; i < N; i++) {
    const runId = `run-${preloadModules.length}-${i}`;
    held.push(
      await creator.createWorkflow({
        info: {
          workflowId: `session-${i}`, runId, workflowType: 'journeySession', searchAttributes: {}, typedSearchAttributes: new TypedSearchAttributes(),
          taskQueue: 'q', namespace: 'default', firstExecutionRunId: runId, originalExecutionRunId: runId, startTime: new Date(), runStartTime: new Date(),
          taskTimeoutMs: 10_000, attempt: 1, historyLength: 3, historySize: 0, continueAsNewSuggested: false, currentBuildId: '',
          unsafe: { now: Date.now, isReplaying: false, isReplayingHistoryEvents: false, random: Math.random },
        } as never,
        randomnessSeed: [1, 2, 3, 4, 5, 6, 7, 8] as never,
        now: Date.now(),
        showStackTraceSources: false,
      } as never),
    );
  }
  const perContextKb = ((usedMb() - before) * 1024) / N;
  const own = ((creator as unknown as { context: unknown }).context as { __TEMPORAL_ACTIVATOR__?: { moduleCache?: Map<string, unknown> } }).__TEMPORAL_ACTIVATOR__?.moduleCache;
  return { preloadModules, perContextKb: Math.round(perContextKb * 10) / 10, modulesEvaluatedPerContext: own?.size ?? null, zodModulesPerContext: own ? [...own.keys()].filter((k) => k.includes('/zod/')).length : null };
}

async function main() {
  process.stdout.write(`${JSON.stringify({ contexts: N, without: await measure([]), with: await measure(sharedWorkflowModules) }, null, 2)}\n`);
  process.exit(0);
}

void main();
