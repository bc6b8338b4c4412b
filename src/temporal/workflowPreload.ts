// Workflow code (bundled into the workflow sandbox, like src/domain/messages.ts): deterministic, no I/O.
// Evaluated once in the workflow thread's shared V8 context, before any workflow, instead of
// once per workflow context (./worker.ts, `preloadModules`): zod, which the message
// schemas of src/domain/messages.ts are built with.
//
// The SDK deep-freezes what is preloaded and the globals it leaves, so:
// - only the library is shared: zod installs a schema's methods on first use, so the schemas
//   themselves are built per workflow (src/domain/messages.ts);
// - zod's lazy global setup (default locale and memoizer, in `globalThis.__zod_globalConfig`,
//   done on the first schema built) happens here, before the freeze: one schema built and
//   parsed, valid and invalid. test/workflows/replay.test.ts and
//   test/integration/poisonMessages.test.ts fail if a frozen object is written later.
// `import 'zod'` alone would not do: zod's package.json declares `sideEffects: false`, and
// webpack drops an import whose value is unused.
import { z } from 'zod';

const warmUp = z.object({ id: z.uuid(), n: z.number().int().min(0).optional(), s: z.string().max(5).nullish(), e: z.enum(['a', 'b']) }).extend({ r: z.string().refine((v) => v !== 'x') });
warmUp.safeParse({ id: '00000000-0000-4000-8000-000000000000', e: 'a', r: 'y' });
warmUp.safeParse({ id: 'no', n: -1, s: 'too long', e: 'c', r: 'x' }).error?.issues.map((i) => i.message);

export const preloaded = { z };
