// A PostgreSQL cluster of the suite's own (initdb + pg_ctl from the installed server binaries)
// on a private port and data folder, so stopping it disturbs nothing else on the machine (the
// shared server at 5432 is never touched). initdb and the server refuse to run as root: as
// root they run as the `postgres` system user (or FAULTS_PG_USER).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const CANDIDATE_BIN_DIRS = () => {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return [process.env.FAULTS_PG_BIN, ...versions.map((v) => path.join(base, v, 'bin'))].filter((d): d is string => !!d);
};

export function findPostgresBinDir(): string {
  for (const dir of CANDIDATE_BIN_DIRS()) {
    if (['initdb', 'pg_ctl', 'postgres', 'pg_dump'].every((b) => fs.existsSync(path.join(dir, b)))) return dir;
  }
  throw new Error('no PostgreSQL server binaries found (initdb, pg_ctl, postgres, pg_dump): install postgresql, or set FAULTS_PG_BIN');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class PrivatePostgres {
  readonly dataDir: string;
  readonly logFile: string;
  private readonly runAs: string | null;

  constructor(
    private readonly folder: string,
    readonly port: number,
    private readonly binDir = findPostgresBinDir(),
  ) {
    this.dataDir = path.join(folder, 'data');
    this.logFile = path.join(folder, 'postgres.log');
    this.runAs = process.getuid?.() === 0 ? (process.env.FAULTS_PG_USER ?? 'postgres') : null;
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Runs a server binary as the cluster's owner; resolves with its output. */
  private run(bin: string, args: string[], timeoutMs = 120_000): Promise<string> {
    const exe = path.join(this.binDir, bin);
    const [command, argv] = this.runAs
      ? ['su', [this.runAs, '-s', '/bin/sh', '-c', [exe, ...args].map(shellQuote).join(' ')]]
      : [exe, args];
    return new Promise((resolve, reject) => {
      execFile(command, argv as string[], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${bin} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
    });
  }

  async init(): Promise<void> {
    fs.mkdirSync(this.folder, { recursive: true });
    if (this.runAs) execFileSync('chown', ['-R', `${this.runAs}:`, this.folder]);
    await this.run('initdb', ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  }

  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      '-c listen_addresses=127.0.0.1',
      "-c unix_socket_directories=''", // TCP only: nothing in the shared socket folder
      '-c max_connections=200',
      '-c log_min_messages=warning',
    ].join(' ');
    await this.run('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '120', '-o', options, 'start']);
  }

  /** `fast`: a clean shutdown that disconnects every client, as an operator's stop does. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!fs.existsSync(path.join(this.dataDir, 'postmaster.pid'))) return;
    await this.run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '120', 'stop']);
  }

  /** The database as an operator would dump it: plain SQL text of every row. */
  async dump(database: string, file: string): Promise<string> {
    // pg_dump connects over TCP as the trusted `postgres` role; it need not run as the owner.
    const pgDump = path.join(this.binDir, 'pg_dump');
    await new Promise<void>((resolve, reject) => {
      execFile(
        pgDump,
        ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '--no-owner', '-f', file, database],
        { timeout: 300_000 },
        (err, _stdout, stderr) => (err ? reject(new Error(`pg_dump failed: ${stderr.trim() || err.message}`)) : resolve()),
      );
    });
    return fs.readFileSync(file, 'utf8');
  }
}
