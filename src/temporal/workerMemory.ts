// What the worker process holds, split between the main thread's V8 heap and the rest
// (the workflow thread's V8 isolate, SDK Core's Rust allocations, glibc malloc arenas,
// thread stacks, code). Read by the benchmark over the IPC channel (worker.ts) and
// docs/performance.md ("Worker memory"). Figures in MiB.
import fs from 'node:fs';
import v8 from 'node:v8';

const MiB = 2 ** 20;
const mb = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

export interface WorkerMemory {
  /** process.memoryUsage(): rss is the whole process; the heap figures are the main thread's isolate. */
  rssMb: number;
  heapTotalMb: number;
  heapUsedMb: number;
  externalMb: number;
  arrayBuffersMb: number;
  /** v8.getHeapStatistics() of the main thread's isolate. */
  v8: { heapLimitMb: number; physicalMb: number; mallocedMb: number; peakMallocedMb: number; nativeContexts: number; detachedContexts: number };
  /** /proc/self/status (null off Linux). */
  proc: { vmRssMb: number; rssAnonMb: number; rssFileMb: number; vmHwmMb: number; threads: number } | null;
}

/** `Name:   1234 kB` lines of /proc/self/status, in kB (or a count). */
export function parseProcStatus(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export function workerMemory(): WorkerMemory {
  const u = process.memoryUsage();
  const h = v8.getHeapStatistics();
  let proc: WorkerMemory['proc'] = null;
  try {
    const s = parseProcStatus(fs.readFileSync('/proc/self/status', 'utf8'));
    proc = { vmRssMb: mb(s.VmRSS * 1024), rssAnonMb: mb(s.RssAnon * 1024), rssFileMb: mb(s.RssFile * 1024), vmHwmMb: mb(s.VmHWM * 1024), threads: s.Threads };
  } catch {
    // not Linux
  }
  return {
    rssMb: mb(u.rss),
    heapTotalMb: mb(u.heapTotal),
    heapUsedMb: mb(u.heapUsed),
    externalMb: mb(u.external),
    arrayBuffersMb: mb(u.arrayBuffers),
    v8: {
      heapLimitMb: mb(h.heap_size_limit),
      physicalMb: mb(h.total_physical_size),
      mallocedMb: mb(h.malloced_memory),
      peakMallocedMb: mb(h.peak_malloced_memory),
      nativeContexts: h.number_of_native_contexts,
      detachedContexts: h.number_of_detached_contexts,
    },
    proc,
  };
}

/**
 * Answers `{ type: 'worker-memory' }` on the IPC channel of a parent that started this process
 * with one (the benchmark); nothing otherwise. The channel does not keep the process alive.
 */
export function answerMemoryRequests(): void {
  if (!process.send || !process.channel) return;
  process.on('message', (msg: unknown) => {
    if ((msg as { type?: unknown } | null)?.type !== 'worker-memory') return;
    process.send?.({ type: 'worker-memory', memory: workerMemory() });
  });
  process.channel.unref();
}
