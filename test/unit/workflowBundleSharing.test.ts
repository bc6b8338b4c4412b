// The worker's workflow bundle evaluates zod once in the workflow thread's shared V8 context,
// not once per workflow context (src/temporal/workflowPreload.ts): about 0.6 MB of heap per
// cached or replayed workflow (docs/performance.md, "Worker memory"). Runs the SDK's own
// reusable-context creator on the product's bundle; no server.
import { workflowBundle } from '../../src/temporal/worker';
import { contextCreator, newWorkflowContext, ownModules } from '../support/workflowContexts';

it('evaluates zod once for all workflow contexts (the message schemas stay per workflow; they parse: replay and poisonMessages tests)', async () => {
  const bundle = await workflowBundle();
  const creator = await contextCreator(bundle.code);
  try {
    for (const runId of ['run-1', 'run-2']) {
      const wf = await newWorkflowContext(creator, runId);
      const own = ownModules(creator);
      expect(own).toContain('./src/domain/messages.ts'); // the schemas stay per workflow
      expect(own.filter((id) => id.includes('/zod/'))).toEqual([]);
      await wf.dispose();
    }
  } finally {
    await creator.destroy();
  }
}, 120_000);
