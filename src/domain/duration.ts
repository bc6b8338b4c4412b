// Duration strings like "1d2h30m". Imported by Temporal workflow code, so this
// module must stay deterministic and import nothing (no zod, no node built-ins).

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
export const MINUTES_PER_HOUR = 60;
export const MINUTES_PER_DAY = 24 * MINUTES_PER_HOUR;
/** Upper bound on any duration (~100 years); keeps arithmetic far from float precision limits. */
export const MAX_DURATION_DAYS = 36_500;
export const MAX_DURATION_MINUTES = MAX_DURATION_DAYS * MINUTES_PER_DAY;

export type ParseDurationResult = { ok: true; minutes: number } | { ok: false; message: string };
export type DurationBoundsResult =
  | { ok: true; canonical: string; minutes: number }
  | { ok: false; message: string };

// Anchored, no whitespace, lowercase units only, fixed d-h-m order. Each group is optional,
// so the empty string matches and is rejected separately.
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/;

export function parseDuration(input: string): ParseDurationResult {
  if (typeof input !== 'string') return { ok: false, message: 'must be a string' };
  if (input.length === 0) return { ok: false, message: 'must not be empty' };
  const match = DURATION_RE.exec(input);
  if (!match) {
    return {
      ok: false,
      message: 'must be a duration like 30m, 12h or 1d2h30m (lowercase d/h/m in that order, no spaces)',
    };
  }
  // Number() of a huge digit string yields a huge float or Infinity; either fails the cap
  // check below, so precision loss never leaks into an accepted value.
  const days = match[1] === undefined ? 0 : Number(match[1]);
  const hours = match[2] === undefined ? 0 : Number(match[2]);
  const mins = match[3] === undefined ? 0 : Number(match[3]);
  const total = days * MINUTES_PER_DAY + hours * MINUTES_PER_HOUR + mins;
  if (!(total <= MAX_DURATION_MINUTES)) {
    return { ok: false, message: `must be at most ${MAX_DURATION_DAYS}d` };
  }
  if (total === 0) return { ok: false, message: 'must be greater than zero' };
  return { ok: true, minutes: total };
}

/** Canonical form: largest units first, zero components omitted (90 -> "1h30m"). */
export function formatDuration(minutes: number): string {
  if (!Number.isSafeInteger(minutes) || minutes <= 0) {
    throw new RangeError(`duration minutes must be a positive integer, got ${String(minutes)}`);
  }
  const days = Math.floor(minutes / MINUTES_PER_DAY);
  const hours = Math.floor((minutes % MINUTES_PER_DAY) / MINUTES_PER_HOUR);
  const mins = minutes % MINUTES_PER_HOUR;
  return (days ? `${days}d` : '') + (hours ? `${hours}h` : '') + (mins ? `${mins}m` : '');
}

function parseOrThrow(input: string): number {
  const parsed = parseDuration(input);
  if (!parsed.ok) throw new RangeError(`invalid duration ${JSON.stringify(input)}: ${parsed.message}`);
  return parsed.minutes;
}

/** "90m" -> "1h30m", "24h" -> "1d". Throws on invalid input. */
export function canonicalDuration(input: string): string {
  return formatDuration(parseOrThrow(input));
}

/** Throws on invalid input. */
export function durationToMs(input: string): number {
  return parseOrThrow(input) * MINUTE_MS;
}

/**
 * Validates a user-supplied duration against inclusive bounds. The bounds are
 * configuration, not user input, so invalid bounds throw instead of returning a message.
 */
export function checkDurationBounds(
  input: string,
  bounds: { min: string; max: string },
): DurationBoundsResult {
  const min = parseOrThrow(bounds.min);
  const max = parseOrThrow(bounds.max);
  if (min > max) throw new RangeError(`duration bounds inverted: min ${bounds.min} > max ${bounds.max}`);
  const parsed = parseDuration(input);
  if (!parsed.ok) return parsed;
  if (parsed.minutes < min || parsed.minutes > max) {
    return { ok: false, message: `must be between ${formatDuration(min)} and ${formatDuration(max)}` };
  }
  return { ok: true, canonical: formatDuration(parsed.minutes), minutes: parsed.minutes };
}
