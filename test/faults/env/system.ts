// The production-shaped system the fault suite runs against, every part a separate OS
// process on free ports: its own PostgreSQL cluster, a Temporal dev server on a SQLite file,
// the API (`tsx src/server.ts`), the worker (`tsx worker.ts`) and a webhook receiver.
import { randomBytes } from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePorts, GroupRegistry, ManagedProcess, tcpOpen } from './processes';
import { findPostgresBinDir, PrivatePostgres } from './postgres';
import { ROOT, TemporalDevServer } from './temporal';

const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
export const DATABASE = 'kyc';

export interface SystemOptions {
  /** Extra environment for the API and the worker (reconciler interval, codec key, …). */
  appEnv: Record<string, string>;
  log: (msg: string) => void;
}

export class FaultSystem {
  readonly folder: string;
  readonly registry: GroupRegistry;
  readonly postgres: PrivatePostgres;
  readonly temporal: TemporalDevServer;
  readonly api: ManagedProcess;
  readonly worker: ManagedProcess;
  readonly receiver: ManagedProcess;
  readonly apiUrl: string;
  readonly receiverUrl: string;
  readonly receiverLog: string;
  readonly auditKey = randomBytes(32).toString('hex');
  readonly appEnv: NodeJS.ProcessEnv;
  private supervisor: NodeJS.Timeout | undefined;
  /** Restarts the supervisor made after a crash nobody caused (a process manager's job in production). */
  readonly supervisedRestarts: string[] = [];
  private watchdog: ReturnType<typeof spawn> | undefined;

  static async create(opts: SystemOptions): Promise<FaultSystem> {
    const [pg, grpc, http, metrics, api, receiver] = await freePorts(6);
    return new FaultSystem(opts, { pg, grpc, http, metrics, api, receiver });
  }

  private constructor(
    private readonly opts: SystemOptions,
    readonly ports: { pg: number; grpc: number; http: number; metrics: number; api: number; receiver: number },
  ) {
    this.folder = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-faults-'));
    fs.chmodSync(this.folder, 0o755); // the cluster's owner (not root) must reach its data folder
    this.registry = new GroupRegistry(path.join(this.folder, 'groups'));
    this.postgres = new PrivatePostgres(path.join(this.folder, 'pg'), ports.pg);
    this.temporal = new TemporalDevServer(this.folder, ports, this.registry);
    this.apiUrl = `http://127.0.0.1:${ports.api}`;
    this.receiverUrl = `http://127.0.0.1:${ports.receiver}`;
    this.receiverLog = path.join(this.folder, 'received.jsonl');

    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(TEMPORAL_|DATABASE_URL$|PORT$|PUBLIC_BASE_URL$|AUDIT_HMAC_KEY$|WEBHOOK_|LOG_LEVEL$)/.test(k)),
    );
    this.appEnv = {
      ...inherited,
      DATABASE_URL: this.postgres.url(DATABASE),
      TEMPORAL_ADDRESS: this.temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'kyc-faults',
      PORT: String(ports.api),
      PUBLIC_BASE_URL: this.apiUrl,
      AUDIT_HMAC_KEY: this.auditKey,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      DATA_RETENTION_MIN: '1m',
      LINK_EXPIRY_MIN: '1m',
      LOG_LEVEL: 'info',
      ...opts.appEnv,
    };
    const app = (name: string, entry: string) =>
      new ManagedProcess({ name, command: TSX, args: [entry], cwd: ROOT, env: this.appEnv, logFile: path.join(this.folder, `${name}.log`) }, this.registry);
    this.api = app('api', 'src/server.ts');
    this.worker = app('worker', 'worker.ts');
    this.receiver = new ManagedProcess(
      {
        name: 'receiver',
        command: TSX,
        args: ['test/faults/receiver.ts', '--port', String(ports.receiver), '--log', this.receiverLog, '--fail-first', '/temporal-outage/'],
        cwd: ROOT,
        env: { ...inherited },
        logFile: path.join(this.folder, 'receiver.log'),
      },
      this.registry,
    );
  }

  async start(): Promise<void> {
    this.startWatchdog();
    const log = this.opts.log;
    log(`run folder ${this.folder}`);
    log(`PostgreSQL: initdb + pg_ctl on 127.0.0.1:${this.ports.pg} (${this.postgres.dataDir})`);
    await this.postgres.init();
    await this.postgres.start();
    log(`Temporal dev server on ${this.temporal.address}, SQLite ${this.temporal.sqliteFile}`);
    await Promise.all([this.temporal.start().then(() => this.setUpTemporal()), this.migrate(), this.startReceiver()]);
    log('worker and API');
    await Promise.all([this.startWorker(), this.startApi()]);
    this.supervisor = setInterval(() => void this.supervise(), 1000);
  }

  private async migrate(): Promise<void> {
    execFileSync(TSX, ['src/cli/migrate.ts'], { cwd: ROOT, env: this.appEnv, stdio: ['ignore', 'ignore', 'inherit'] });
  }

  /** The product's idempotent setup command for real clusters (search attributes, the reconciler's Schedule). */
  private async setUpTemporal(): Promise<void> {
    const setup = 'src/cli/setupTemporal.ts';
    if (!fs.existsSync(path.join(ROOT, setup))) return;
    execFileSync(TSX, [setup], { cwd: ROOT, env: this.appEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    this.opts.log('Temporal set up by src/cli/setupTemporal.ts (reconciler Schedule)');
  }

  async startWorker(): Promise<void> {
    this.worker.start();
    await this.worker.waitReady(async () => this.worker.logSinceStartIncludes('"worker started"'), 'polling', 240_000);
  }

  async startApi(): Promise<void> {
    this.api.start();
    await this.api.waitReady(async () => (await fetch(`${this.apiUrl}/healthz`)).ok, 'listening', 240_000);
  }

  async startReceiver(): Promise<void> {
    this.receiver.start();
    await this.receiver.waitReady(async () => (await fetch(`${this.receiverUrl}/__health`)).ok, 'listening', 120_000);
  }

  /** The receiver is gone: its port refuses connections. */
  async receiverRefuses(): Promise<boolean> {
    return !(await tcpOpen(this.ports.receiver));
  }

  /** A crashed API or worker comes back, as under a process manager; the crash is reported. */
  private async supervise(): Promise<void> {
    for (const [p, restart] of [
      [this.api, () => this.startApi()],
      [this.worker, () => this.startWorker()],
    ] as const) {
      const crashes = p.unexpectedExits.length;
      if (!p.running && crashes > this.supervisedRestarts.filter((r) => r.startsWith(p.spec.name)).length) {
        this.supervisedRestarts.push(`${p.spec.name}: ${p.unexpectedExits[crashes - 1]}`);
        await restart().catch((err) => this.opts.log(`could not restart ${p.spec.name}: ${(err as Error).message}`));
      }
    }
  }

  /** Stops everything this run started, in order: API and worker, receiver, Temporal, PostgreSQL. */
  async stop(): Promise<void> {
    if (this.supervisor) clearInterval(this.supervisor);
    await Promise.all([this.api.stop(), this.worker.stop(), this.receiver.stop()]);
    await this.temporal.stop();
    await this.postgres.stop('fast').catch(() => this.postgres.stop('immediate'));
    this.watchdog?.stdin?.end();
  }

  /**
   * Should the suite die without running stop() (SIGKILL, crash), this detached shell notices
   * its stdin closing and stops every process group of the run and the private cluster.
   */
  private startWatchdog(): void {
    const pgCtl = path.join(findPostgresBinDir(), 'pg_ctl');
    const stopPg = `'${pgCtl}' -D '${this.postgres.dataDir}' -m immediate stop`;
    const asOwner = process.getuid?.() === 0 ? `su ${process.env.FAULTS_PG_USER ?? 'postgres'} -s /bin/sh -c "${stopPg}"` : stopPg;
    const script = [
      'read -r _',
      `for g in $(cat '${path.join(this.folder, 'groups')}' 2>/dev/null); do kill -KILL -- "-$g" 2>/dev/null; done`,
      `[ -f '${this.postgres.dataDir}/postmaster.pid' ] && ${asOwner} >/dev/null 2>&1`,
      'exit 0',
    ].join('\n');
    this.watchdog = spawn('bash', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    this.watchdog.on('error', () => undefined);
    this.watchdog.unref();
    (this.watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }
}
