import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import { dataConverter } from '../payloads/dataConverter';
import type { DataKeyStore } from '../payloads/keyStore';
import { temporalConnectionOptions, type TemporalConnectionConfig } from './connectionOptions';

/** Every client of the project encrypts its payloads with the record's data key. */
export async function createTemporalClient(
  config: Pick<Config, 'TEMPORAL_NAMESPACE'> & TemporalConnectionConfig,
  keys: DataKeyStore,
): Promise<Client> {
  // mTLS / Temporal Cloud API key when configured (connectionOptions.ts).
  const connection = await Connection.connect(temporalConnectionOptions(config));
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverter(keys) });
}
