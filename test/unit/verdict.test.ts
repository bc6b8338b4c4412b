import {
  AiStatus,
  AnalysisStatus,
  consolidateVerdict,
  verdictAfterDecision,
} from '../../src/domain/verdict';

const AI: readonly AiStatus[] = ['ai_approved', 'ai_rejected', 'verify'];

// All multisets of `size` over `items` (combinations with repetition, non-decreasing index).
function multisets<T>(items: readonly T[], size: number, start = 0): T[][] {
  if (size === 0) return [[]];
  const out: T[][] = [];
  for (let i = start; i < items.length; i++) {
    for (const rest of multisets(items, size - 1, i)) out.push([items[i], ...rest]);
  }
  return out;
}

// All orderings, so the result is shown not to depend on input order.
function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

// Independent statement of the rule via counts rather than precedence scanning.
function expected(statuses: readonly AnalysisStatus[]): AiStatus {
  const count = (s: AnalysisStatus) => statuses.filter((x) => x === s).length;
  const rejected = count('ai_rejected') + count('user_rejected');
  const verify = count('verify');
  const approved = count('ai_approved') + count('user_approved');
  if (rejected > 0) return 'ai_rejected';
  if (verify > 0) return 'verify';
  if (approved > 0) return 'ai_approved';
  return 'verify';
}

describe('consolidateVerdict', () => {
  const cases = [0, 1, 2, 3].flatMap((n) => multisets(AI, n));

  it('enumerates 1 + 3 + 6 + 10 multisets', () => {
    expect(cases).toHaveLength(20);
  });

  it.each(cases.map((c) => [c.join(',') || '(none)', c] as const))('%s', (_label, statuses) => {
    for (const perm of permutations(statuses)) {
      expect(consolidateVerdict(perm)).toBe(expected(perm));
    }
  });

  it('spot checks', () => {
    expect(consolidateVerdict([])).toBe('verify');
    expect(consolidateVerdict(['ai_approved', 'ai_approved'])).toBe('ai_approved');
    expect(consolidateVerdict(['ai_approved', 'verify'])).toBe('verify');
    expect(consolidateVerdict(['verify', 'ai_rejected', 'ai_approved'])).toBe('ai_rejected');
  });

  it('maps user decisions onto AI statuses and ignores purged', () => {
    expect(consolidateVerdict(['purged'])).toBe('verify');
    expect(consolidateVerdict(['purged', 'ai_approved'])).toBe('ai_approved');
    expect(consolidateVerdict(['user_approved'])).toBe('ai_approved');
    expect(consolidateVerdict(['user_approved', 'verify'])).toBe('verify');
    expect(consolidateVerdict(['user_rejected', 'ai_approved'])).toBe('ai_rejected');
    const all: AnalysisStatus[] = ['ai_approved', 'ai_rejected', 'verify', 'user_approved', 'user_rejected', 'purged'];
    for (const c of [0, 1, 2, 3].flatMap((n) => multisets(all, n))) {
      expect(consolidateVerdict(c)).toBe(expected(c));
    }
  });

  it('throws on an unknown status at runtime', () => {
    expect(() => consolidateVerdict(['bogus' as AnalysisStatus])).toThrow(/unknown analysis status/);
  });
});

describe('verdictAfterDecision', () => {
  it('returns the decision', () => {
    expect(verdictAfterDecision('user_approved')).toBe('user_approved');
    expect(verdictAfterDecision('user_rejected')).toBe('user_rejected');
  });
});
