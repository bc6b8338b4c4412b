// V8 heap held by one workflow context of the product's bundle, with and without the shared
// (preloaded) modules of src/temporal/worker.ts — what each cached or replayed session costs
// the workflow thread before its own state:
//   node --expose-gc --import tsx bench/workflowContextHeap.ts [workflows]
// It creates `workflows` (default 200) journeySession contexts with the SDK's reusable-V8-context
// creator in this process (no server, no activation) and prints the heap growth per context and
// the modules each context evaluates for itself. Prints figures, never fails on them.
import v8 from 'node:v8';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../src/payloads/dataConverter';
import { sharedWorkflowModules, workflowsPath } from '../src/temporal/worker';
import { contextCreator, newWorkflowContext, ownModules } from '../test/support/workflowContexts';

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
  const creator = await contextCreator(bundle.code);
  const before = usedMb();
  const held = [];
  for (let i = 0; i < N; i++) held.push(await newWorkflowContext(creator, `run-${preloadModules.length}-${i}`));
  const perContextKb = ((usedMb() - before) * 1024) / N;
  const own = ownModules(creator);
  return { preloadModules, perContextKb: Math.round(perContextKb * 10) / 10, modulesEvaluatedPerContext: own.length, zodModulesPerContext: own.filter((k) => k.includes('/zod/')).length };
}

async function main() {
  process.stdout.write(`${JSON.stringify({ contexts: N, without: await measure([]), with: await measure(sharedWorkflowModules) }, null, 2)}\n`);
  process.exit(0);
}

void main();
