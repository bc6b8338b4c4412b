import fs from 'node:fs';
import type { Config } from '../config';

// How the client and the worker reach Temporal: plain on loopback (npm start), mTLS to a
// self-hosted cluster (TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA for a private
// CA), or an API key to Temporal Cloud (TEMPORAL_API_KEY, TLS implied). Files are read and
// checked at start, so a wrong path or a non-PEM file stops the process with its name.

export type TemporalConnectionConfig = Pick<
  Config,
  'TEMPORAL_ADDRESS' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_SERVER_NAME' | 'TEMPORAL_API_KEY'
>;

export class TemporalTlsConfigError extends Error {}

function readPem(variable: string, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new TemporalTlsConfigError(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const text = data.toString('utf8');
  const ok = kind === 'CERTIFICATE' ? text.includes('-----BEGIN CERTIFICATE-----') : /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text);
  if (!ok) throw new TemporalTlsConfigError(`${variable}: ${file} is not a PEM ${kind.toLowerCase()}`);
  return data;
}

export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
  apiKey?: string;
}

/** Options shared by Connection.connect (client) and NativeConnection.connect (worker). */
export function temporalConnectionOptions(config: TemporalConnectionConfig): TemporalConnectionOptions {
  const { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: ca, TEMPORAL_API_KEY: apiKey } = config;
  if (Boolean(cert) !== Boolean(key)) {
    throw new TemporalTlsConfigError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: the client certificate and its private key');
  }
  const useTls = Boolean(cert || ca || apiKey || config.TEMPORAL_TLS_SERVER_NAME);
  if (!useTls) return { address: config.TEMPORAL_ADDRESS };
  return {
    address: config.TEMPORAL_ADDRESS,
    tls: {
      ...(config.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME } : {}),
      ...(ca ? { serverRootCACertificate: readPem('TEMPORAL_TLS_CA', ca, 'CERTIFICATE') } : {}),
      ...(cert && key ? { clientCertPair: { crt: readPem('TEMPORAL_TLS_CERT', cert, 'CERTIFICATE'), key: readPem('TEMPORAL_TLS_KEY', key, 'PRIVATE KEY') } } : {}),
    },
    ...(apiKey ? { apiKey } : {}),
  };
}
