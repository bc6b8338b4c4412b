// AES-256-GCM sealing, used for Temporal payloads (under a record's data key) and for data
// keys themselves (under the master key). Output: 12-byte IV | ciphertext | 16-byte tag.
// The associated data binds a ciphertext to its key id: a blob moved under another id fails.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export function seal(key: Buffer, plaintext: Uint8Array, associatedData: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

export function open(key: Buffer, sealed: Uint8Array, associatedData: string): Buffer {
  const buf = Buffer.from(sealed);
  if (buf.length < IV_BYTES + TAG_BYTES) throw new Error('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
  return Buffer.concat([decipher.update(buf.subarray(IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]);
}

export const newDataKey = (): Buffer => randomBytes(KEY_BYTES);

/** A master key's public name: stored beside every key it wraps, so rotation knows which to use. */
export const masterKeyId = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 16);

/** 64 hex characters → 32 bytes; anything else is refused. */
export function parseKeyHex(hex: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('a key is 64 hexadecimal characters (openssl rand -hex 32)');
  return Buffer.from(hex, 'hex');
}
