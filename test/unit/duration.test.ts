import {
  DAY_MS,
  HOUR_MS,
  MAX_DURATION_MINUTES,
  MINUTE_MS,
  canonicalDuration,
  checkDurationBounds,
  durationToMs,
  formatDuration,
  parseDuration,
} from '../../src/domain/duration';

describe('parseDuration', () => {
  it.each([
    ['1m', 1],
    ['90m', 90],
    ['1h', 60],
    ['1d', 1440],
    ['1d2h30m', 1440 + 120 + 30],
    ['2h5m', 125],
    ['1d5m', 1445],
    ['25h', 1500],
    ['0d1h', 60],
    ['01h', 60],
    ['36500d', MAX_DURATION_MINUTES],
  ])('%s -> %d minutes', (input, minutes) => {
    expect(parseDuration(input)).toEqual({ ok: true, minutes });
  });

  it.each(['0m', '0d', '0h', '0d0h0m'])('rejects zero total %s', (input) => {
    expect(parseDuration(input)).toEqual({ ok: false, message: 'must be greater than zero' });
  });

  it('rejects empty', () => {
    expect(parseDuration('')).toEqual({ ok: false, message: 'must not be empty' });
  });

  it.each([
    '-1d', '1x', '1', 'd', '1D', '1H', '1M', ' 1d', '1d ', '1d 2h', '\n1h', '1h1d', '1m1h', '1d1d',
    '1.5h', '+1h', '1e3m', '١d', 'PT1H', '1s', '1w',
  ])('rejects malformed %j', (input) => {
    const r = parseDuration(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/duration like/);
  });

  it.each(['36500d1m', '36501d', '999999999999h', '9'.repeat(400) + 'd', '1' + '0'.repeat(30) + 'm'])(
    'rejects absurdly large %s',
    (input) => {
      expect(parseDuration(input)).toEqual({ ok: false, message: 'must be at most 36500d' });
    },
  );

  it('rejects non-strings at runtime', () => {
    expect(parseDuration(5 as unknown as string).ok).toBe(false);
  });
});

describe('formatDuration', () => {
  it.each([
    [1440, '1d'],
    [90, '1h30m'],
    [1500, '1d1h'],
    [2, '2m'],
    [60, '1h'],
    [1441, '1d1m'],
    [1440 + 61, '1d1h1m'],
    [MAX_DURATION_MINUTES, '36500d'],
  ])('%d -> %s', (minutes, expected) => {
    expect(formatDuration(minutes)).toBe(expected);
  });

  it.each([0, -1, 1.5, NaN, Infinity])('throws on %p', (minutes) => {
    expect(() => formatDuration(minutes)).toThrow(RangeError);
  });

  it('round-trips through parseDuration', () => {
    for (let m = 1; m <= 3 * 1440; m += 7) {
      expect(parseDuration(formatDuration(m))).toEqual({ ok: true, minutes: m });
    }
  });
});

describe('canonicalDuration / durationToMs', () => {
  it('canonicalizes', () => {
    expect(canonicalDuration('90m')).toBe('1h30m');
    expect(canonicalDuration('24h')).toBe('1d');
    expect(canonicalDuration('0d48h0m')).toBe('2d');
    expect(canonicalDuration('1d1h')).toBe('1d1h');
  });
  it('converts to ms', () => {
    expect(durationToMs('1m')).toBe(MINUTE_MS);
    expect(durationToMs('1h')).toBe(HOUR_MS);
    expect(durationToMs('1d')).toBe(DAY_MS);
    expect(durationToMs('1d1h1m')).toBe(DAY_MS + HOUR_MS + MINUTE_MS);
  });
  it('throws on invalid input', () => {
    expect(() => canonicalDuration('0m')).toThrow(/greater than zero/);
    expect(() => durationToMs('1x')).toThrow(RangeError);
  });
});

describe('checkDurationBounds', () => {
  const bounds = { min: '1m', max: '60d' };
  it('accepts within bounds (inclusive) and canonicalizes', () => {
    expect(checkDurationBounds('1m', bounds)).toEqual({ ok: true, canonical: '1m', minutes: 1 });
    expect(checkDurationBounds('60d', bounds)).toEqual({ ok: true, canonical: '60d', minutes: 60 * 1440 });
    expect(checkDurationBounds('90m', bounds)).toEqual({ ok: true, canonical: '1h30m', minutes: 90 });
  });
  it('rejects out of bounds with a readable message', () => {
    expect(checkDurationBounds('60d1m', bounds)).toEqual({ ok: false, message: 'must be between 1m and 60d' });
    expect(checkDurationBounds('30m', { min: '1h', max: '1440m' })).toEqual({
      ok: false,
      message: 'must be between 1h and 1d',
    });
  });
  it('passes parse errors through', () => {
    expect(checkDurationBounds('0m', bounds)).toEqual({ ok: false, message: 'must be greater than zero' });
    expect(checkDurationBounds('', bounds)).toEqual({ ok: false, message: 'must not be empty' });
  });
  it('throws on invalid bounds (configuration error)', () => {
    expect(() => checkDurationBounds('1h', { min: 'x', max: '1d' })).toThrow(RangeError);
    expect(() => checkDurationBounds('1h', { min: '2d', max: '1d' })).toThrow(/inverted/);
  });
});
