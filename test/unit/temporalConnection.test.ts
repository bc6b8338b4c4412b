import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config';
import { temporalConnectionOptions } from '../../src/temporal/connectionOptions';

const base = { AUDIT_HMAC_KEY: 'k'.repeat(32), PAYLOAD_MASTER_KEY: '0'.repeat(64) };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-tls-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// A syntactically valid PEM pair is enough here: the TLS handshake is the SDK's.
const keyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const certPem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};

test('plain on loopback when nothing is configured', () => {
  expect(temporalConnectionOptions(parseConfig(base))).toEqual({ address: '127.0.0.1:7233' });
});

test('mTLS: certificate, key and CA are read at start and passed to the connection', () => {
  const env = { ...base, TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_CERT: write('c.pem', certPem), TEMPORAL_TLS_KEY: write('k.pem', keyPem), TEMPORAL_TLS_CA: write('ca.pem', certPem), TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' };
  const options = temporalConnectionOptions(parseConfig(env));
  expect(options.tls?.clientCertPair?.crt.toString()).toBe(certPem);
  expect(options.tls?.clientCertPair?.key.toString()).toBe(keyPem);
  expect(options.tls?.serverRootCACertificate?.toString()).toBe(certPem);
  expect(options.tls?.serverNameOverride).toBe('temporal.internal');
});

test('Temporal Cloud: an API key implies TLS', () => {
  const options = temporalConnectionOptions(parseConfig({ ...base, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'secret-key' }));
  expect(options).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'secret-key' });
});

test('clear errors at start: a certificate without its key, a missing file, a file that is not PEM', () => {
  expect(() => parseConfig({ ...base, TEMPORAL_TLS_CERT: write('c2.pem', certPem) })).toThrow(/TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together/);
  expect(() => parseConfig({ ...base, TEMPORAL_TLS_CERT: write('c3.pem', certPem), TEMPORAL_TLS_KEY: path.join(dir, 'nope.pem') })).toThrow(/TEMPORAL_TLS_KEY: cannot read .*nope\.pem \(ENOENT\)/);
  expect(() => parseConfig({ ...base, TEMPORAL_TLS_CA: write('ca2.pem', 'hello') })).toThrow(/TEMPORAL_TLS_CA: .* is not a PEM certificate/);
});
