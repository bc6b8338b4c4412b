/**
 * Coalesces single-row lookups made in the same turn of the event loop into one query.
 *
 * Why: a worker that wakes a thousand workflows at once (a retention re-arm, a burst of
 * replays after evictions) decodes and encodes each one's payloads with its own data key. One
 * `SELECT … WHERE id = ?` each, through the key store's small pool, queued long enough on a
 * loaded host that lookups missed the pool's deadline, whole workflow tasks failed or timed
 * out, and Temporal's backoff of repeated task attempts held those workflows for minutes.
 * One `WHERE id IN (…)` per turn costs one round trip for all of them.
 */
interface Waiter<V> {
  resolve: (value: V | undefined) => void;
  reject: (err: unknown) => void;
}

export class BatchLoader<K, V> {
  private pending = new Map<K, Waiter<V>[]>();
  private scheduled = false;

  constructor(
    /** The rows found for `keys`, by key; a key missing from the map resolves to undefined. */
    private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 500,
  ) {}

  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const keys = [...batch.keys()];
    for (let i = 0; i < keys.length; i += this.maxBatch) {
      const slice = keys.slice(i, i + this.maxBatch);
      const settle = (each: (w: Waiter<V>, k: K) => void) => {
        for (const k of slice) for (const w of batch.get(k)!) each(w, k);
      };
      // A loader that throws synchronously rejects its batch like one that rejects.
      Promise.resolve()
        .then(() => this.loadMany(slice))
        .then(
          (found) => settle((w, k) => w.resolve(found.get(k))),
          (err: unknown) => settle((w) => w.reject(err)),
        );
    }
  }
}
