import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './codec';
import type { DataKeyStore } from './keyStore';

// Loaded by path by clients, workers and the workflow bundle alike.
export const failureConverterPath = path.resolve(__dirname, 'failureConverter.ts');

/** The project's data converter: every payload through the codec, failures too. */
export function dataConverter(keys: DataKeyStore, options: { lingering?: boolean } = {}): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys, options)], failureConverterPath };
}
