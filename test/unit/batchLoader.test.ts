import { BatchLoader } from '../../src/payloads/batchLoader';

// The key store's lookups: many callers in one turn, one query.
describe('BatchLoader', () => {
  const rows = new Map([
    ['a', { id: 'a' }],
    ['b', { id: 'b' }],
  ]);

  test('lookups made in the same turn go out as one query, each caller gets its own row', async () => {
    const queries: string[][] = [];
    const loader = new BatchLoader<string, { id: string }>(async (keys) => {
      queries.push(keys);
      return new Map(keys.flatMap((k) => (rows.has(k) ? [[k, rows.get(k)!] as const] : [])));
    });
    const answers = await Promise.all(['a', 'b', 'a', 'missing'].map((k) => loader.load(k)));
    expect(answers).toEqual([{ id: 'a' }, { id: 'b' }, { id: 'a' }, undefined]);
    expect(queries).toEqual([['a', 'b', 'missing']]);

    // A later turn is a new query.
    expect(await loader.load('b')).toEqual({ id: 'b' });
    expect(queries).toHaveLength(2);
  });

  test('batches are cut at maxBatch keys', async () => {
    const sizes: number[] = [];
    const loader = new BatchLoader<number, number>(async (keys) => {
      sizes.push(keys.length);
      return new Map(keys.map((k) => [k, k * 2]));
    }, 3);
    expect(await Promise.all([1, 2, 3, 4, 5, 6, 7].map((k) => loader.load(k)))).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(sizes).toEqual([3, 3, 1]);
  });

  test('a failed query rejects every caller of its batch, and the next turn queries again', async () => {
    let fail = true;
    const loader = new BatchLoader<string, string>(async (keys) => {
      if (fail) throw new Error('connection refused');
      return new Map(keys.map((k) => [k, k.toUpperCase()]));
    });
    const first = await Promise.allSettled([loader.load('x'), loader.load('y')]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((first[0] as PromiseRejectedResult).reason.message).toBe('connection refused');
    fail = false;
    expect(await loader.load('x')).toBe('X');
  });
});
