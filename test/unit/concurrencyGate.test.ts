import { ConcurrencyGate, GateFullError } from '../../src/domain/concurrencyGate';

/** A piece of work that finishes when the test says so. */
function deferred() {
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { promise, finish, fail };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('runs at most maxActive at once, the others in arrival order', async () => {
  const gate = new ConcurrencyGate(2, 10);
  const jobs = [deferred(), deferred(), deferred(), deferred()];
  const started: number[] = [];
  const runs = jobs.map((job, i) =>
    gate.run(async () => {
      started.push(i);
      await job.promise;
      return i;
    }),
  );
  const firstOutcome = runs[0].catch((err: Error) => err.message);
  await settle();
  expect(started).toEqual([0, 1]);
  expect([gate.running, gate.queued]).toEqual([2, 2]);
  jobs[1].finish();
  await settle();
  expect(started).toEqual([0, 1, 2]);
  jobs[0].fail(new Error('boom')); // a failure releases its slot too
  await settle();
  expect(started).toEqual([0, 1, 2, 3]);
  jobs[2].finish();
  jobs[3].finish();
  await expect(firstOutcome).resolves.toBe('boom');
  await expect(Promise.all(runs.slice(1))).resolves.toEqual([1, 2, 3]);
  expect([gate.running, gate.queued]).toEqual([0, 0]);
});

test('refuses at once beyond maxWaiting', async () => {
  const gate = new ConcurrencyGate(1, 1);
  const job = deferred();
  const first = gate.run(() => job.promise);
  const second = gate.run(async () => 'second');
  await expect(gate.run(async () => 'third')).rejects.toBeInstanceOf(GateFullError);
  job.finish();
  await first;
  await expect(second).resolves.toBe('second');
});

test('rejects nonsensical bounds', () => {
  expect(() => new ConcurrencyGate(0, 1)).toThrow(RangeError);
  expect(() => new ConcurrencyGate(1, -1)).toThrow(RangeError);
});
