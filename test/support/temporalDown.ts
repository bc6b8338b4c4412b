import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import type { TestSystem } from './system';

// The API of a test system wired to a Temporal that is not there: `refused` (nothing listens:
// connection refused, as when the server is stopped) or `silent` (a TCP peer that accepts and
// never answers, as a hung server or a black-holed network does). Same config, same database.
export interface ApiWithoutTemporal {
  baseUrl: string;
  client: Client;
  stop(): Promise<void>;
}

export async function apiWithoutTemporal(sys: TestSystem, mode: 'refused' | 'silent' = 'refused'): Promise<ApiWithoutTemporal> {
  let blackhole: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  let address = '127.0.0.1:1';
  if (mode === 'silent') {
    blackhole = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole!.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(blackhole.address() as AddressInfo).port}`;
  }
  const client = new Client({ connection: Connection.lazy({ address, connectTimeout: '1s' }), namespace: 'default' });
  const server = http.createServer(createApp({ config: sys.config, db: sys.db, temporal: client, keys: sys.keys }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    client,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await client.connection.close().catch(() => undefined);
      for (const s of sockets) s.destroy();
      if (blackhole) await new Promise((resolve) => blackhole!.close(resolve));
    },
  };
}
