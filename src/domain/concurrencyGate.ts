// A bound on how many of one kind of work run at once, the rest waiting in arrival order.
// The API puts the database lookups that anyone can trigger without a credential (journey
// link tokens) behind one, so a flood of random tokens queues behind itself instead of
// occupying the whole connection pool that authenticated requests also need.

export class GateFullError extends Error {
  constructor() {
    super('too many requests are waiting for this resource');
    this.name = 'GateFullError';
  }
}

export class ConcurrencyGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxActive: number,
    /** Waiters beyond this are refused at once (GateFullError) instead of queued. */
    readonly maxWaiting: number,
  ) {
    if (!Number.isInteger(maxActive) || maxActive < 1) throw new RangeError(`maxActive must be a positive integer, got ${maxActive}`);
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new RangeError(`maxWaiting must be a whole number, got ${maxWaiting}`);
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `work` once a slot is free; the slot is released when it settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.maxActive) {
      if (this.waiting.length >= this.maxWaiting) throw new GateFullError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes to the next waiter as it is
      else this.active -= 1;
    }
  }
}
