import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import { dataConverter } from '../payloads/dataConverter';
import type { DataKeyStore } from '../payloads/keyStore';

/** Every client of the project encrypts its payloads with the record's data key. */
export async function createTemporalClient(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>,
  keys: DataKeyStore,
): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverter(keys) });
}
