// The suite's HTTP client: the customer's server, the end user's browser and the analyst, as
// careful clients are written. A transient answer (network error, no answer in time, 5xx,
// 429) is retried with backoff until a definitive one (2xx, 4xx) or a generous deadline;
// creations carry an Idempotency-Key so a retry never creates twice. Every answer is counted,
// so a scenario can report how the API behaved during its fault.

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

export class GaveUp extends Error {}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Per attempt: a request unanswered after this is abandoned and retried. */
  attemptTimeoutMs?: number;
  /** All attempts together. */
  deadlineMs?: number;
  /** Extra answers to treat as transient (e.g. 409 "still in progress" of an Idempotency-Key). */
  retryIf?: (a: Answer) => boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Route pattern for reports: ids and tokens replaced, never a link token in the output. */
export function routeOf(method: string, path: string): string {
  const p = path
    .split('?')[0]
    .replace(/\/v1\/journey\/[^/]+/, '/v1/journey/:token')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, ':id');
  return `${method} ${p}`;
}

export class ApiStats {
  attempts = 0;
  byStatus = new Map<string, number>();
  /** Answers 500 (the API must say 503 when a dependency is down): route → count. */
  serverErrors = new Map<string, number>();
  unanswered = 0;
  networkErrors = 0;
  gaveUp: string[] = [];

  count(key: string): void {
    this.byStatus.set(key, (this.byStatus.get(key) ?? 0) + 1);
  }

  get fiveHundreds(): number {
    return [...this.serverErrors.values()].reduce((a, b) => a + b, 0);
  }

  summary(): string {
    const parts = [...this.byStatus.entries()].sort().map(([k, v]) => `${k}:${v}`);
    return parts.join(' ');
  }
}

export class ApiClient {
  readonly stats = new ApiStats();
  constructor(readonly baseUrl: string) {}

  /** One attempt; null when no answer came (refused, reset, timed out). */
  async once(method: string, path: string, opts: CallOptions = {}): Promise<Answer | null> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    this.stats.attempts += 1;
    const url = path.startsWith('http') ? path : this.baseUrl + path;
    try {
      const res = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(opts.attemptTimeoutMs ?? 60_000) });
      const text = await res.text();
      let body: any = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // not JSON
      }
      this.stats.count(String(res.status));
      if (res.status === 500) {
        const route = routeOf(method, new URL(url).pathname);
        this.stats.serverErrors.set(route, (this.stats.serverErrors.get(route) ?? 0) + 1);
      }
      return { status: res.status, body, headers: res.headers };
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        this.stats.unanswered += 1;
        this.stats.count('no answer');
      } else {
        this.stats.networkErrors += 1;
        this.stats.count('network error');
      }
      return null;
    }
  }

  /** Retries transient answers until a definitive one; throws GaveUp after the deadline. */
  async call(method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
    const deadline = Date.now() + (opts.deadlineMs ?? 3 * 60_000);
    let wait = 250;
    let last = 'nothing';
    for (;;) {
      const a = await this.once(method, path, opts);
      const transient = a === null || a.status >= 500 || a.status === 429 || a.status === 408 || (opts.retryIf?.(a) ?? false);
      if (!transient) return a!;
      last = a === null ? 'no answer' : `${a.status} ${a.body?.title ?? ''}`.trim();
      if (Date.now() > deadline) {
        const what = `${routeOf(method, path)}: no definitive answer before the deadline (last: ${last})`;
        this.stats.gaveUp.push(what);
        throw new GaveUp(what);
      }
      const retryAfter = Number(a?.headers.get('retry-after'));
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : wait);
      wait = Math.min(wait * 2, 5_000);
    }
  }
}

/**
 * 409 answered while the first request with the same Idempotency-Key has not finished: worth
 * retrying for a while (the first one may still commit), not forever: a key left "in progress"
 * by a request that died midway is reported as unanswered after `forMs`.
 */
export function idempotencyInProgress(forMs = 60_000): (a: Answer) => boolean {
  let first: number | null = null;
  return (a) => {
    if (!(a.status === 409 && /in progress/i.test(String(a.body?.detail ?? '')))) return false;
    first ??= Date.now();
    if (Date.now() - first < forMs) return true;
    throw new GaveUp(`Idempotency-Key still "in progress" ${forMs / 1000} s after its first 409: ${String(a.body?.detail)}`);
  };
}

export async function pool<T>(items: T[], concurrency: number, run: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await run(items[i], i);
    }
  });
  await Promise.all(lanes);
}
