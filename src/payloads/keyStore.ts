// Data keys in PostgreSQL, wrapped by the master key from configuration. Unwrapped keys are
// cached briefly (bounded, short-lived) so a busy worker does not query per payload; a purge
// in this process forgets its key at once, other processes within KEY_CACHE_TTL_MS. While
// PostgreSQL is unreachable, a key this process already held keeps serving for up to
// KEY_STALE_MAX_MS past its expiry (a purge cannot commit through an unreachable database
// either): without it, every payload of the worker fails to encode or decode once the cache
// has expired, each workflow task fails, and the SDK gives the Worker up.
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex';
import { masterKeyId, newDataKey, open, parseKeyHex, seal } from '../domain/aesGcm';
import { isTransientFailure } from '../domain/failures';
import { BatchLoader } from './batchLoader';
import { orgScope, scopeHintForWorkflowId, type KeyScope } from './scopes';

export const KEY_CACHE_TTL_MS = 10_000;
/**
 * Connections of the key store's own pool. Its own: decoding a workflow task's payloads must
 * not queue behind a hundred activities holding the process's main pool (a bulk purge): a
 * lookup that misses the pool's deadline fails the whole task, and Temporal backs off
 * repeated task failures for minutes.
 */
export const KEY_STORE_POOL_MAX = 4;
/**
 * How long a worker keeps, in its memory only, a key that a purge it ran destroyed: the
 * workflow still has a few tasks to run after its purge, and any of them may replay the whole
 * history (an eviction, a sticky-queue timeout on a loaded worker), which needs the key.
 */
export const SHREDDED_KEY_LINGER_MS = 15 * 60_000;
export const KEY_STALE_MAX_MS = 5 * 60_000;
const KEY_CACHE_MAX = 2_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Which organization a webhook delivery belongs to never changes: remembered longer. */
const DELIVERY_ORG_TTL_MS = 60 * 60_000;

export class KeyDestroyedError extends Error {
  constructor(keyId: string, scope: string) {
    super(`key destroyed: data key ${keyId} (${scope}) was deleted when its record was purged; this payload can no longer be decrypted`);
    this.name = 'KeyDestroyedError';
  }
}
export class UnknownKeyError extends Error {
  constructor(keyId: string) {
    super(`unknown data key ${keyId}`);
    this.name = 'UnknownKeyError';
  }
}

/** The master key that wraps new keys, and previous ones still accepted to unwrap (rotation). */
export class MasterKeys {
  readonly current: { id: string; key: Buffer };
  private readonly byId = new Map<string, Buffer>();

  constructor(currentHex: string, previousHex: string[] = []) {
    const current = parseKeyHex(currentHex);
    this.current = { id: masterKeyId(current), key: current };
    for (const k of [current, ...previousHex.map(parseKeyHex)]) this.byId.set(masterKeyId(k), k);
  }

  static fromConfig(config: { PAYLOAD_MASTER_KEY: string; PAYLOAD_MASTER_KEY_PREVIOUS?: string[] }): MasterKeys {
    return new MasterKeys(config.PAYLOAD_MASTER_KEY, config.PAYLOAD_MASTER_KEY_PREVIOUS ?? []);
  }

  wrap(dataKeyId: string, key: Buffer): { wrapped: Buffer; masterKeyId: string } {
    const { sealed, masterKeyId } = this.seal(`data-key:${dataKeyId}`, key);
    return { wrapped: sealed, masterKeyId };
  }

  unwrap(dataKeyId: string, wrapped: Buffer, wrappedBy: string): Buffer {
    return this.open(`data key ${dataKeyId}`, `data-key:${dataKeyId}`, wrapped, wrappedBy);
  }

  /** Seals a small secret (a data key, a webhook signing secret) under the current master key. */
  seal(associatedData: string, plaintext: Uint8Array): { sealed: Buffer; masterKeyId: string } {
    return { sealed: seal(this.current.key, plaintext, associatedData), masterKeyId: this.current.id };
  }

  open(what: string, associatedData: string, sealed: Uint8Array, sealedBy: string): Buffer {
    const master = this.byId.get(sealedBy);
    if (!master) throw new Error(`${what} is wrapped by master key ${sealedBy}, which is not configured (PAYLOAD_MASTER_KEY_PREVIOUS)`);
    return open(master, sealed, associatedData);
  }
}

interface DataKeyRow {
  id: string;
  scope: KeyScope;
  wrapped_key: Buffer | null;
  master_key_id: string | null;
  destroyed_at: Date | null;
}

export interface DataKey {
  id: string;
  scope: KeyScope;
  key: Buffer;
}

/** A small LRU with expiry. */
class TtlCache<V> {
  private readonly items = new Map<string, { value: V; expires: number }>();
  constructor(private readonly max: number, private readonly ttlMs: number) {}
  get(k: string): V | undefined {
    const hit = this.items.get(k);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) return undefined; // kept for stale() until evicted
    this.items.delete(k);
    this.items.set(k, hit);
    return hit.value;
  }
  /** An entry expired less than `maxStaleMs` ago (PostgreSQL unreachable: see DataKeyStore). */
  stale(k: string, maxStaleMs: number): V | undefined {
    const hit = this.items.get(k);
    return hit && hit.expires + maxStaleMs >= Date.now() ? hit.value : undefined;
  }
  set(k: string, value: V): void {
    this.items.delete(k);
    this.items.set(k, { value, expires: Date.now() + this.ttlMs });
    if (this.items.size > this.max) this.items.delete(this.items.keys().next().value as string);
  }
  delete(k: string): void {
    this.items.delete(k);
  }
}

export class DataKeyStore {
  private readonly byScope: TtlCache<DataKey>;
  private readonly byId: TtlCache<DataKey>;
  private readonly lingering: TtlCache<DataKey>;
  private readonly inflight = new Map<string, Promise<DataKey>>();
  private readonly deliveryScopes = new TtlCache<KeyScope>(KEY_CACHE_MAX, DELIVERY_ORG_TTL_MS);
  // One query for all the keys looked up in the same turn (see BatchLoader).
  private readonly rowsById = new BatchLoader<string, DataKeyRow>(async (ids) =>
    new Map((await this.db<DataKeyRow>('data_keys').whereIn('id', ids)).map((r) => [r.id, r])),
  );
  private readonly rowsByScope = new BatchLoader<KeyScope, DataKeyRow>(async (scopes) =>
    new Map((await this.db<DataKeyRow>('data_keys').whereIn('scope', scopes)).map((r) => [r.scope, r])),
  );

  constructor(
    private readonly db: Db,
    readonly master: MasterKeys,
    options: { cacheTtlMs?: number; lingerMs?: number } = {},
  ) {
    this.byScope = new TtlCache<DataKey>(KEY_CACHE_MAX, options.cacheTtlMs ?? KEY_CACHE_TTL_MS);
    this.byId = new TtlCache<DataKey>(KEY_CACHE_MAX, options.cacheTtlMs ?? KEY_CACHE_TTL_MS);
    this.lingering = new TtlCache<DataKey>(KEY_CACHE_MAX, options.lingerMs ?? SHREDDED_KEY_LINGER_MS);
  }

  /** The key that encrypts new payloads of a workflow. */
  async keyForWorkflow(workflowId: string | undefined): Promise<DataKey> {
    const hint = scopeHintForWorkflowId(workflowId);
    if ('scope' in hint) return this.keyForScope(hint.scope);
    let scope = this.deliveryScopes.get(hint.deliveryId);
    if (!scope) {
      const delivery = await this.orStale(this.deliveryScopes, hint.deliveryId, () =>
        this.db('webhook_deliveries').where({ id: hint.deliveryId }).first('organization_id'),
      );
      if (typeof delivery === 'string') scope = delivery as KeyScope;
      else {
        scope = delivery ? orgScope(delivery.organization_id) : 'deployment';
        if (delivery) this.deliveryScopes.set(hint.deliveryId, scope);
      }
    }
    return this.keyForScope(scope);
  }

  /**
   * `read()`, or, should PostgreSQL be unreachable, what `cache` last held for `k` (at most
   * KEY_STALE_MAX_MS past its expiry); any other failure, or nothing cached, rethrows.
   */
  private async orStale<V, R>(cache: TtlCache<V>, k: string, read: () => Promise<R>): Promise<R | V> {
    try {
      return await read();
    } catch (err) {
      const stale = isTransientFailure(err) ? cache.stale(k, KEY_STALE_MAX_MS) : undefined;
      if (stale === undefined) throw err;
      return stale;
    }
  }

  /**
   * Gets or creates the scope's key. A destroyed record key is never recreated: what the
   * workflow writes after its purge (ids and statuses) goes under the organization's key.
   */
  async keyForScope(scope: KeyScope): Promise<DataKey> {
    const cached = this.byScope.get(scope);
    if (cached) return cached;
    return this.once(`scope:${scope}`, () => this.lookUpKeyForScope(scope));
  }

  /** Runs `fn` once for concurrent callers of the same `k`. */
  private once(k: string, fn: () => Promise<DataKey>): Promise<DataKey> {
    let running = this.inflight.get(k);
    if (!running) {
      running = fn().finally(() => this.inflight.delete(k));
      this.inflight.set(k, running);
    }
    return running;
  }

  private async lookUpKeyForScope(scope: KeyScope): Promise<DataKey> {
    const found = await this.orStale(this.byScope, scope, () => this.rowsByScope.load(scope));
    if (found && 'key' in found) return found; // stale: PostgreSQL unreachable
    let row = found;
    if (!row) {
      const id = randomUUID();
      const { wrapped, masterKeyId } = this.master.wrap(id, newDataKey());
      await this.db('data_keys').insert({ id, scope, wrapped_key: wrapped, master_key_id: masterKeyId }).onConflict('scope').ignore();
      row = (await this.db<DataKeyRow>('data_keys').where({ scope }).first())!;
    }
    if (!row.wrapped_key) {
      const fallback = await this.organizationOf(scope);
      return this.keyForScope(fallback ? orgScope(fallback) : 'deployment');
    }
    const key = this.remember(row);
    this.byScope.set(scope, key);
    return key;
  }

  /** The key a payload names; throws KeyDestroyedError once its record was purged. */
  async keyById(id: string): Promise<DataKey> {
    const cached = this.byId.get(id);
    if (cached) return cached;
    // One lookup per key at a time: a replayed history decodes dozens of payloads at once.
    return this.once(`id:${id}`, () => this.lookUpKeyById(id));
  }

  private async lookUpKeyById(id: string): Promise<DataKey> {
    // Strictly a UUID: one malformed id in a batch would fail the whole batch's query.
    const row = UUID.test(id) ? await this.orStale(this.byId, id, () => this.rowsById.load(id)) : undefined;
    if (row && 'key' in row) return row; // stale: PostgreSQL unreachable
    if (!row) throw new UnknownKeyError(id);
    if (!row.wrapped_key) throw new KeyDestroyedError(id, row.scope);
    return this.remember(row);
  }

  /** Which record a payload's key belongs to, and whether it still exists (codec server). */
  async describeKey(id: string): Promise<{ scope: KeyScope; organizationId: string | null; destroyed: boolean } | null> {
    // Strictly a UUID, as for lookups: anything else names no key (and is no query for the uuid column).
    const row = UUID.test(id) ? await this.db<DataKeyRow>('data_keys').where({ id }).first('scope', 'wrapped_key') : undefined;
    if (!row) return null;
    return { scope: row.scope, organizationId: await this.organizationOf(row.scope), destroyed: !row.wrapped_key };
  }

  /** The organization a key belongs to (null for the deployment key or an unknown record). */
  async organizationOf(scope: KeyScope): Promise<string | null> {
    const [kind, id] = scope.split(':') as [string, string | undefined];
    if (kind === 'org') return id!;
    if (kind === 'session') return (await this.db('sessions').where({ id }).first('organization_id'))?.organization_id ?? null;
    if (kind === 'analysis') return (await this.db('analyses').where({ id }).first('organization_id'))?.organization_id ?? null;
    return null;
  }

  /**
   * Before a purge that this process's workflow runs: keep the record's key in memory for that
   * workflow's last replays (SHREDDED_KEY_LINGER_MS). Only a codec built for a worker
   * (`lingering`) reads it; nothing stores it, and PostgreSQL no longer has it after the purge.
   */
  async holdForLastReplays(scope: KeyScope): Promise<void> {
    const key = await this.keyForScope(scope);
    if (key.scope === scope) this.lingering.set(key.id, key); // not already destroyed
  }

  /** A key this process held before its purge destroyed it, for at most SHREDDED_KEY_LINGER_MS. */
  lingeringKey(id: string): DataKey | undefined {
    return this.lingering.get(id);
  }

  /** After a purge committed: this process stops using the destroyed key at once. */
  forget(scope: KeyScope): void {
    const hit = this.byScope.get(scope);
    this.byScope.delete(scope);
    if (hit) this.byId.delete(hit.id);
  }

  /**
   * Master key rotation: re-wraps every live data key under the current master key. Payloads
   * stay as they are (their data keys do not change). Returns how many keys were re-wrapped.
   */
  async rewrapAll(options: { batchSize?: number; scopes?: KeyScope[] } = {}): Promise<number> {
    let count = 0;
    for (;;) {
      const query = this.db<DataKeyRow>('data_keys');
      if (options.scopes) query.whereIn('scope', options.scopes);
      const rows = await query
        .whereNotNull('wrapped_key')
        .whereNot({ master_key_id: this.master.current.id })
        .orderBy('id')
        .limit(options.batchSize ?? 500);
      if (rows.length === 0) return count;
      for (const row of rows) {
        const key = this.master.unwrap(row.id, row.wrapped_key!, row.master_key_id!);
        const { wrapped, masterKeyId } = this.master.wrap(row.id, key);
        // A purge in between wins: only a still-live key is re-wrapped.
        count += await this.db('data_keys')
          .where({ id: row.id, master_key_id: row.master_key_id })
          .whereNotNull('wrapped_key')
          .update({ wrapped_key: wrapped, master_key_id: masterKeyId });
      }
    }
  }

  private remember(row: DataKeyRow): DataKey {
    const key: DataKey = { id: row.id, scope: row.scope, key: this.master.unwrap(row.id, row.wrapped_key!, row.master_key_id!) };
    this.byId.set(row.id, key);
    return key;
  }
}

/**
 * Crypto-shredding, inside the purge's own transaction: the record's key is gone when its data
 * is. The tombstone row also stops any later encode from creating a new key for the record.
 */
export async function destroyDataKey(trx: Db, scope: KeyScope): Promise<void> {
  await trx('data_keys')
    .insert({ id: randomUUID(), scope, wrapped_key: null, master_key_id: null, destroyed_at: trx.fn.now() })
    .onConflict('scope')
    .merge({ wrapped_key: null, master_key_id: null, destroyed_at: trx.raw('COALESCE(data_keys.destroyed_at, now())') });
}
