// The stored response of an idempotent creation, sealed under its record's data key: the
// response of POST /v1/sessions holds the link URL with the plaintext token, so it is kept
// only as ciphertext, readable while the session lives and shredded with its key at purge.
// The record id stays in clear (the purge finds the row by it).
import { z } from 'zod';
import { open, seal } from '../domain/aesGcm';
import type { ResponseSealer } from '../api/idempotency';
import type { DataKeyStore } from './keyStore';
import type { KeyScope } from './scopes';

const sealedResponse = z.object({ id: z.string(), sealed: z.object({ keyId: z.string(), data: z.string() }) });
const aad = (keyId: string) => `idempotent-response:${keyId}`;

export function recordResponseSealer(keys: DataKeyStore, scopeOf: (recordId: string) => KeyScope): ResponseSealer {
  const idOf = (body: unknown): string => {
    const id = (body as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') throw new Error('a sealed idempotent response names its record id');
    return id;
  };
  return {
    prepare: async (recordId) => {
      await keys.keyForScope(scopeOf(recordId));
    },
    seal: async (body) => {
      const id = idOf(body);
      const key = await keys.keyForScope(scopeOf(id));
      const data = seal(key.key, Buffer.from(JSON.stringify(body), 'utf8'), aad(key.id)).toString('base64');
      return { id, sealed: { keyId: key.id, data } };
    },
    open: async (stored) => {
      const parsed = sealedResponse.safeParse(stored);
      if (!parsed.success) return stored; // stored before sealing existed (kept at most 24 h)
      const key = await keys.keyById(parsed.data.sealed.keyId);
      return JSON.parse(open(key.key, Buffer.from(parsed.data.sealed.data, 'base64'), aad(key.id)).toString('utf8'));
    },
  };
}
