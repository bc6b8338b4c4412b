// Small numeric helpers shared by the benchmarks: percentiles, a bounded-concurrency pool,
// command-line flags. Pure code, no I/O.

export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (v: number | undefined) => (v === undefined ? NaN : Math.round(v * 10) / 10);
  const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
  return { n: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: round(sorted[sorted.length - 1]) };
}

/** Runs `task(0..count-1)` with at most `concurrency` in flight; rejects on the first failure. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

export const perSecond = (count: number, ms: number): number => +(count / (ms / 1000)).toFixed(1);
export const ratio = (a: number, b: number): number => (b > 0 ? +(a / b).toFixed(2) : NaN);

/** `--name value` from argv; `--name a,b,c` as a list of numbers. */
export function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  return v === undefined || v.startsWith('--') ? 'true' : v;
}

export function numberList(argv: string[], name: string, fallback: number[]): number[] {
  const v = flag(argv, name);
  if (v === undefined) return fallback;
  const list = v.split(',').map((s) => Number(s.replace(/_/g, '')));
  if (list.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--${name} takes a comma-separated list of whole numbers, got ${v}`);
  return list;
}
