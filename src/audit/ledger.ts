import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { chainBatch, createChainVerifier, GENESIS_HASH } from '../domain/auditChain';
import { log } from '../log';

// The operator action history. An append inserts its event unchained, in the caller's
// transaction, and takes no organization-wide lock; a sequencer chains committed events in
// batches under the organization's head row lock (gap-free seqs, one HMAC chain per
// organization), so one organization's appends share one WAL flush per batch.
export type ActorType = 'operator' | 'api_key' | 'system' | 'end_user';
export type AuditCategory = 'creation' | 'modification' | 'deletion' | 'decision' | 'access';

export interface AuditActor {
  type: ActorType;
  id: string;
  label?: string | null;
}

export interface AuditContext {
  requestId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

export interface AuditEventInput extends AuditContext {
  organizationId: string;
  actor: AuditActor;
  action: string;
  category: AuditCategory;
  resource: { type: string; id: string };
  /** Before/after of what changed; secrets masked by the caller (see maskSecret). */
  changes?: Record<string, unknown> | null;
  outcome?: 'success' | 'failure';
  /** Set by activities: a retried append with the same key returns the first event. */
  idempotencyKey?: string | null;
}

export interface AuditEventRow {
  id: string;
  organization_id: string;
  seq: string | number;
  occurred_at: Date;
  actor_type: ActorType;
  actor_id: string;
  actor_label: string | null;
  action: string;
  category: AuditCategory;
  resource_type: string;
  resource_id: string;
  changes: Record<string, unknown> | null;
  outcome: 'success' | 'failure';
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  idempotency_key: string | null;
  prev_hash: string;
  hash: string;
}

/** The API's view of an event; also exactly what the hash covers (minus the hashes). */
export function auditEventView(row: AuditEventRow) {
  return {
    id: row.id,
    seq: Number(row.seq),
    occurredAt: row.occurred_at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id, label: row.actor_label },
    action: row.action,
    category: row.category,
    resource: { type: row.resource_type, id: row.resource_id },
    changes: row.changes,
    outcome: row.outcome,
    requestId: row.request_id,
    ip: row.ip,
    userAgent: row.user_agent,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The hashed body: every recorded field of the event, including its organization. */
export function hashedBody(row: AuditEventRow): Record<string, unknown> {
  const { prevHash: _p, hash: _h, ...body } = auditEventView(row);
  return { organizationId: row.organization_id, ...body };
}

export const maskSecret = (value: string | null | undefined): string | null =>
  value ? `${value.slice(0, Math.min(10, Math.floor(value.length / 4)))}…(masked)` : null;

const EVENT_COLUMNS = [
  'id', 'organization_id', 'occurred_at', 'actor_type', 'actor_id', 'actor_label', 'action', 'category',
  'resource_type', 'resource_id', 'changes', 'outcome', 'request_id', 'ip', 'user_agent', 'idempotency_key',
] as const;

/** What an append returns: the event as inserted, not chained yet (seq/prev_hash/hash null) unless a retry found it chained. */
export type AppendedAuditEvent = Omit<AuditEventRow, 'seq' | 'prev_hash' | 'hash'> & {
  seq: string | number | null;
  prev_hash: string | null;
  hash: string | null;
};

// The event is inserted unchained: no organization-wide lock, nothing but the caller's own
// row (and the idempotency key's unique index) until the caller's commit. A retried append
// (same idempotency key) inserts nothing; the first event is returned instead.
const INSERT_UNCHAINED = `
  INSERT INTO audit_events (${EVENT_COLUMNS.join(', ')})
  VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (organization_id, idempotency_key) DO NOTHING
  RETURNING id`;

/**
 * Records an event in the caller's transaction (`db` a transaction: it commits with the
 * change it records) or on its own. The event gets its seq and hashes from the sequencer
 * (chainPending) after the commit; a running LedgerSequencer of this database is woken then.
 * `_hmacKey` is kept for the callers: the sequencer holds the key that chains.
 */
export async function appendAuditEvent(db: Knex, _hmacKey: string, input: AuditEventInput): Promise<AppendedAuditEvent> {
  const row: AppendedAuditEvent = {
    id: randomUUID(),
    organization_id: input.organizationId,
    seq: null,
    occurred_at: new Date(),
    actor_type: input.actor.type,
    actor_id: input.actor.id,
    actor_label: input.actor.label ?? null,
    action: input.action,
    category: input.category,
    resource_type: input.resource.type,
    resource_id: input.resource.id,
    changes: input.changes ?? null,
    outcome: input.outcome ?? 'success',
    request_id: input.requestId ?? null,
    ip: input.ip ?? null,
    user_agent: input.userAgent ? input.userAgent.slice(0, 512) : null,
    idempotency_key: input.idempotencyKey ?? null,
    prev_hash: null,
    hash: null,
  };
  const values = EVENT_COLUMNS.map((c) => (c === 'changes' ? (row.changes === null ? null : JSON.stringify(row.changes)) : row[c]));
  const inserted = await db.raw(INSERT_UNCHAINED, values);
  wakeAfterCommit(db, input.organizationId);
  if (inserted.rows.length > 0) return row;
  // Nothing inserted: this key's event exists already (a retry of the same activity).
  return db<AppendedAuditEvent>('audit_events').where({ organization_id: input.organizationId, idempotency_key: input.idempotencyKey }).first() as Promise<AppendedAuditEvent>;
}

/**
 * Chains the organization's committed unchained events: locks its head row once per batch,
 * takes up to `batchSize` events in append_order, gives each the next seq, the previous hash
 * and its HMAC (src/domain/auditChain.ts), moves the head, one commit per batch. Runs until no
 * unchained event is left; returns how many it chained. Any process may run it at any time:
 * the head lock serializes sequencers, and an event is chained once (the UPDATE only takes
 * rows still unchained, and the trigger of migration 013 refuses a second chaining).
 * Never call it inside a transaction that other work is waiting to commit.
 */
export async function chainPending(db: Knex, hmacKey: string, organizationId: string, batchSize = 1000): Promise<number> {
  let chained = 0;
  for (;;) {
    const n = await db.transaction(async (trx) => {
      const lockHead = () => trx('audit_heads').where({ organization_id: organizationId }).forUpdate().first('seq', 'hash');
      let head = await lockHead();
      if (!head) {
        // The organization's first event: its head starts at the genesis hash.
        const any = await trx('audit_events').where({ organization_id: organizationId }).whereNull('seq').first('id');
        if (!any) return 0;
        await trx('audit_heads').insert({ organization_id: organizationId, seq: 0, hash: GENESIS_HASH }).onConflict('organization_id').ignore();
        head = await lockHead();
      }
      // Read after the lock: a sequencer that held it before us has committed its batch.
      const rows: AuditEventRow[] = await trx('audit_events')
        .where({ organization_id: organizationId })
        .whereNull('seq')
        .orderBy('append_order')
        .limit(batchSize);
      if (rows.length === 0) return 0;
      const links = chainBatch(hmacKey, { seq: Number(head.seq), hash: head.hash }, rows, (row, seq) => hashedBody({ ...row, seq }));
      const updated = await trx.raw(
        `UPDATE audit_events AS e SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
           FROM unnest(?::uuid[], ?::bigint[], ?::text[], ?::text[]) AS v(id, seq, prev_hash, hash)
          WHERE e.id = v.id AND e.organization_id = ? AND e.seq IS NULL`,
        [rows.map((r) => r.id), links.map((l) => l.seq), links.map((l) => l.prevHash), links.map((l) => l.hash), organizationId],
      );
      if (updated.rowCount !== rows.length) throw new Error(`ledger sequencer: chained ${updated.rowCount} of ${rows.length} events; batch rolled back`);
      const last = links[links.length - 1];
      await trx('audit_heads').where({ organization_id: organizationId }).update({ seq: last.seq, hash: last.hash });
      return rows.length;
    });
    chained += n;
    if (n < batchSize) return chained;
  }
}

/**
 * Chains what is committed before a read (list, get, verify). A sequencer that cannot chain (an
 * event inserted already chained at the next seq by someone holding the application's role
 * makes the batch fail on the unique seq) must not turn the read into an error: the read goes
 * on over what is chained, and verify then reports the forged event as the first invalid one.
 */
export async function chainBeforeRead(db: Knex, hmacKey: string, organizationId: string): Promise<void> {
  try {
    await chainPending(db, hmacKey, organizationId);
  } catch (err) {
    log.warn('ledger: chaining before a read failed; reading what is chained', { organizationId, error: String((err as Error)?.message ?? err) });
  }
}

/** Organizations with unchained events (the partial index audit_events_unchained). */
export async function organizationsWithUnchained(db: Knex): Promise<string[]> {
  const rows: { organization_id: string }[] = await db('audit_events').distinct('organization_id').whereNull('seq');
  return rows.map((r) => r.organization_id);
}

/** Chains every organization's unchained events (checkpoints, the sequencer's poll). */
export async function chainAllPending(db: Knex, hmacKey: string): Promise<number> {
  let chained = 0;
  for (const organizationId of await organizationsWithUnchained(db)) {
    // One organization whose chaining is stuck (see chainBeforeRead) holds back no other.
    try {
      chained += await chainPending(db, hmacKey, organizationId);
    } catch (err) {
      log.warn('ledger: chaining an organization failed', { organizationId, error: String((err as Error)?.message ?? err) });
    }
  }
  return chained;
}

/**
 * The per-process background sequencer: woken after each append's commit, it chains the
 * organization's events (coalescing wakes that arrive while it runs, so busy organizations get
 * large batches), at most `concurrency` organizations at once; every `pollMs` it also chains
 * whatever another process left unchained (a crash between the caller's commit and the
 * chaining). Readers that need a complete chain do not rely on it: they call chainPending.
 */
export class LedgerSequencer {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly queued = new Set<string>();
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly db: Knex,
    private readonly hmacKey: string,
    private readonly opts: { pollMs?: number; concurrency?: number; batchSize?: number } = {},
  ) {}

  start(): this {
    if (this.opts.pollMs) this.schedulePoll();
    return this;
  }

  wake(organizationId: string): void {
    if (this.stopped) return;
    if (this.running.has(organizationId)) {
      this.again.add(organizationId);
      return;
    }
    if (this.running.size >= (this.opts.concurrency ?? 2)) {
      this.queued.add(organizationId);
      return;
    }
    const run = (async () => {
      try {
        do {
          this.again.delete(organizationId);
          await chainPending(this.db, this.hmacKey, organizationId, this.opts.batchSize);
        } while (this.again.has(organizationId) && !this.stopped);
      } catch (err) {
        // Left unchained: the next wake, the poll, any reader or another process chains it.
        if (!this.stopped) log.warn('ledger sequencer failed', { organizationId, error: String((err as Error)?.message ?? err) });
      } finally {
        this.running.delete(organizationId);
        const next = this.queued.values().next();
        if (!next.done) {
          this.queued.delete(next.value);
          this.wake(next.value);
        }
      }
    })();
    this.running.set(organizationId, run);
  }

  /** Chains what is pending in every organization now (the poll's step). */
  async sweep(): Promise<void> {
    for (const organizationId of await organizationsWithUnchained(this.db)) this.wake(organizationId);
  }

  /** Resolves when nothing is running or queued (tests, the benchmark). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.queued.clear();
    await Promise.allSettled([...this.running.values()]);
  }

  private schedulePoll(): void {
    this.pollTimer = setTimeout(() => {
      // A destroyed pool (the process is stopping): stop polling.
      if (this.stopped || !(this.db.client as { pool?: unknown }).pool) return;
      this.sweep()
        .catch((err) => log.warn('ledger sequencer poll failed', { error: String((err as Error)?.message ?? err) }))
        .finally(() => {
          if (!this.stopped) this.schedulePoll();
        });
    }, this.opts.pollMs).unref();
  }
}

/** The API's and the worker's sequencer: wakes after commits, a sweep every 5 s for what a crash left. */
export const LEDGER_SEQUENCER_OPTIONS = { pollMs: 5_000, concurrency: 2, batchSize: 1000 } as const;

// One sequencer per database handle (keyed by the knex client's config, which its
// transactions share), so an append inside any transaction finds the one to wake.
const sequencers = new WeakMap<object, LedgerSequencer>();

/** Starts (once per database handle) the process's background sequencer; later calls return it. */
export function startLedgerSequencer(db: Knex, hmacKey: string, opts: { pollMs?: number; concurrency?: number; batchSize?: number } = {}): LedgerSequencer {
  const key = db.client.config as object;
  let sequencer = sequencers.get(key);
  if (!sequencer) {
    sequencer = new LedgerSequencer(db, hmacKey, opts).start();
    sequencers.set(key, sequencer);
  }
  return sequencer;
}

export async function stopLedgerSequencer(db: Knex): Promise<void> {
  const key = db.client.config as object;
  const sequencer = sequencers.get(key);
  sequencers.delete(key);
  await sequencer?.stop();
}

/** After the outermost transaction commits (at once without one): wake this database's sequencer. */
function wakeAfterCommit(db: Knex, organizationId: string): void {
  const sequencer = sequencers.get(db.client.config as object);
  if (!sequencer) return;
  if (!db.isTransaction) {
    sequencer.wake(organizationId);
    return;
  }
  let trx = db as Knex.Transaction;
  while (trx.parentTransaction) trx = trx.parentTransaction;
  // A rollback wakes nothing: there is nothing to chain.
  trx.executionPromise?.then(
    () => sequencer.wake(organizationId),
    () => undefined,
  );
}

/**
 * Recomputes the organization's chain in seq order, a batch at a time (constant memory). It
 * first chains what is committed (chainPending), so every event committed before the call is
 * verified; unchained rows are never read.
 */
export async function verifyLedger(db: Knex, hmacKey: string, organizationId: string, batchSize = 2000) {
  await chainBeforeRead(db, hmacKey, organizationId);
  const verifier = createChainVerifier(hmacKey);
  let after = 0;
  for (;;) {
    const rows: AuditEventRow[] = await db('audit_events')
      .where({ organization_id: organizationId })
      .andWhere('seq', '>', after)
      .orderBy('seq')
      .limit(batchSize);
    let intact = true;
    for (const row of rows) {
      intact = verifier.push({ seq: Number(row.seq), prevHash: row.prev_hash, hash: row.hash, body: hashedBody(row) });
      if (!intact) break;
    }
    if (!intact || rows.length < batchSize) break;
    after = Number(rows[rows.length - 1].seq);
  }
  return verifier.result();
}
