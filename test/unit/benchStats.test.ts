import { numberList, percentiles, pool, ratio } from '../../bench/lib/stats';

describe('benchmark statistics', () => {
  test('percentiles pick the nearest-rank value of the sorted sample', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentiles(values)).toEqual({ n: 100, p50: 51, p95: 96, p99: 100, max: 100 });
    expect(percentiles([7])).toEqual({ n: 1, p50: 7, p95: 7, p99: 7, max: 7 });
  });

  test('pool runs every task once with at most `concurrency` in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    const results = await pool(25, 4, async (i) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(i);
      inFlight -= 1;
      return i * 2;
    });
    expect(peak).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(results).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
  });

  test('flags: lists of whole numbers, with underscores; anything else is refused', () => {
    expect(numberList(['--sizes', '1_000,10000'], 'sizes', [1])).toEqual([1000, 10000]);
    expect(numberList([], 'sizes', [200])).toEqual([200]);
    expect(() => numberList(['--sizes', '1k'], 'sizes', [1])).toThrow(/whole numbers/);
    expect(ratio(7, 10)).toBe(0.7);
    expect(ratio(1, 0)).toBeNaN();
  });
});
