// The payload codec installed on every Temporal client and worker of the project: each payload
// is sealed (AES-256-GCM) under the data key its workflow id selects (src/payloads/scopes.ts);
// the key id travels in the payload's metadata, so decoding needs no context and a destroyed
// key gives a clear "key destroyed" error.
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { open, seal } from '../domain/aesGcm';
import { KeyDestroyedError, type DataKey, type DataKeyStore } from './keyStore';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const text = (b: Uint8Array | null | undefined): string => (b ? Buffer.from(b).toString('utf8') : '');

export const isEncrypted = (p: Payload): boolean => text(p.metadata?.encoding) === ENCRYPTED_ENCODING;
export const keyIdOf = (p: Payload): string | null => (isEncrypted(p) ? text(p.metadata?.[KEY_ID_METADATA]) : null);

export class EncryptionCodec implements PayloadCodec {
  constructor(
    private readonly keys: DataKeyStore,
    /**
     * A worker's codec: it may still decode with a key its own purge destroyed a moment ago
     * (DataKeyStore.holdForLastReplays), so the purged workflow can replay and end. Clients,
     * the codec server and tests never do.
     */
    private readonly options: { lingering?: boolean } = {},
  ) {}

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    if (payloads.length === 0) return payloads;
    return this.encodeWith(await this.keys.keyForWorkflow(context?.workflowId), payloads);
  }

  async encodeWith({ id, key }: DataKey, payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => ({
      metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id) },
      data: seal(key, temporal.api.common.v1.Payload.encode(p).finish(), id),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p) => this.decodeOne(p)));
  }

  async decodeOne(p: Payload): Promise<Payload> {
    const id = keyIdOf(p);
    if (id === null) return p; // not ours (e.g. written before the codec was installed)
    const { key } = await this.keys.keyById(id).catch((err: unknown) => {
      const held = this.options.lingering && err instanceof KeyDestroyedError ? this.keys.lingeringKey(id) : undefined;
      if (!held) throw err;
      return held;
    });
    const inner = temporal.api.common.v1.Payload.decode(open(key, p.data ?? new Uint8Array(), id));
    return { metadata: inner.metadata, data: inner.data };
  }
}
