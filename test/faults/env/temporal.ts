// The Temporal dev server of the pinned CLI, persisting to a SQLite file in the run's folder,
// so a stop and a restart keep every workflow, timer and pending task (production shape).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { customSearchAttributes } from '../../../src/temporal/searchAttributes';
import { GroupRegistry, ManagedProcess } from './processes';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const TEMPORAL_CLI = path.join(ROOT, '.temporal', 'venv', 'bin', 'temporal');

/** The CLI without any of the developer's TEMPORAL_* variables or profiles. */
export function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

export class TemporalDevServer {
  readonly process: ManagedProcess;
  readonly address: string;
  readonly sqliteFile: string;

  constructor(folder: string, ports: { grpc: number; http: number; metrics: number }, registry: GroupRegistry, readonly namespace = 'default') {
    this.address = `127.0.0.1:${ports.grpc}`;
    this.sqliteFile = path.join(folder, 'temporal.sqlite');
    this.process = new ManagedProcess(
      {
        name: 'temporal',
        command: TEMPORAL_CLI,
        args: [
          'server', 'start-dev', '--headless',
          '--ip', '127.0.0.1',
          '--port', String(ports.grpc),
          '--http-port', String(ports.http),
          '--metrics-port', String(ports.metrics),
          '--db-filename', this.sqliteFile,
          '--namespace', namespace,
          '--log-level', 'warn',
          ...customSearchAttributes.flatMap((a) => ['--search-attribute', `${a.name}=${a.cliType}`]),
        ],
        env: cliEnv(),
        logFile: path.join(folder, 'temporal.log'),
      },
      registry,
    );
  }

  /** Starts (or restarts, on the same SQLite file) and waits until the frontend answers with our search attributes. */
  async start(): Promise<void> {
    this.process.start();
    await this.process.waitReady(async () => (await this.missingSearchAttributes()).length === 0, 'ready', 180_000);
  }

  async stop(): Promise<void> {
    await this.process.stop(15_000);
  }

  cli(args: string[], timeoutMs = 30_000): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    const full = [...args, '--address', this.address, '--namespace', this.namespace, '--disable-config-file', '--disable-config-env'];
    return new Promise((resolve) => {
      execFile(TEMPORAL_CLI, full, { env: cliEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
        resolve({ ok: !err, stdout, stderr: stderr || (err ? err.message : '') }),
      );
    });
  }

  private async missingSearchAttributes(): Promise<string[]> {
    const out = await this.cli(['operator', 'search-attribute', 'list', '-o', 'json', '--command-timeout', '5s'], 10_000);
    if (!out.ok) throw new Error(out.stderr);
    const have = (JSON.parse(out.stdout) as { customAttributes?: Record<string, string> }).customAttributes ?? {};
    return customSearchAttributes.map((a) => a.name).filter((n) => !(n in have));
  }
}
