// OS processes of the fault suite. Each runs in a process group of its own (tsx starts a
// node child, the Temporal CLI its server), so a signal reaches the whole process tree, and
// the run's watchdog can find every group it must stop if the suite itself dies.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net, { AddressInfo, createServer, Server } from 'node:net';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The process groups alive right now, for the watchdog (see watchdog.ts). */
export class GroupRegistry {
  private groups = new Map<string, number>();
  constructor(private readonly file: string) {}

  set(name: string, pgid: number | undefined): void {
    if (pgid === undefined) this.groups.delete(name);
    else this.groups.set(name, pgid);
    fs.writeFileSync(this.file, [...this.groups.values()].join('\n') + '\n');
  }

  all(): number[] {
    return [...this.groups.values()];
  }
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Exits nobody asked for (crashes), with their status. */
  readonly unexpectedExits: string[] = [];
  private stopping = false;
  starts = 0;

  constructor(
    readonly spec: ProcessSpec,
    private readonly registry: GroupRegistry,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`${this.spec.name} is already running`);
    const fd = fs.openSync(this.spec.logFile, 'a');
    fs.writeSync(fd, `\n==== ${new Date().toISOString()} start #${this.starts + 1}: ${this.spec.command} ${this.spec.args.join(' ')}\n`);
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: this.spec.env,
      stdio: ['ignore', fd, fd],
      detached: true, // its own process group
    });
    fs.closeSync(fd);
    this.starts += 1;
    this.stopping = false;
    this.child = child;
    this.registry.set(this.spec.name, child.pid);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.unexpectedExits.push(`${this.spec.name} exited on its own (${signal ?? code}) at ${new Date().toISOString()}`);
        // The group may outlive its leader (a tsx child): make sure nothing of it stays.
        killGroup(child.pid, 'SIGKILL');
        if (this.child === child) this.registry.set(this.spec.name, undefined);
        resolve();
      });
      child.once('error', (err) => {
        this.unexpectedExits.push(`${this.spec.name} could not start: ${err.message}`);
        resolve();
      });
    });
  }

  /** The fault: no shutdown, no cleanup, the whole group at once; resolves once none of it is left. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.stopping = true;
    const pgid = this.child.pid;
    killGroup(pgid, 'SIGKILL');
    await this.exited;
    await groupGone(pgid);
  }

  /** A graceful stop: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    if (!this.child || !this.running) return;
    this.stopping = true;
    killGroup(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.child?.pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    await groupGone(this.child?.pid);
  }

  /** Resolves when `ready` holds; fails early, with the log's tail, if the process dies. */
  async waitReady(ready: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.spec.name} exited before ${what}:\n${tail(this.spec.logFile)}`);
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${this.spec.name}: not ${what} within ${timeoutMs / 1000} s:\n${tail(this.spec.logFile)}`);
      await sleep(250);
    }
  }

  /** Whether the log holds `text` after the latest start marker. */
  logSinceStartIncludes(text: string): boolean {
    const log = fs.readFileSync(this.spec.logFile, 'utf8');
    const lastStart = log.lastIndexOf('\n==== ');
    return log.slice(lastStart).includes(text);
  }
}

/** Resolves once no process of the group is left (its leader's exit comes first). */
async function groupGone(pgid: number | undefined): Promise<void> {
  if (pgid === undefined) return;
  for (let i = 0; i < 600; i++) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
}

export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function freePorts(count: number): Promise<number[]> {
  // Hold every listener until all ports are known, so they are distinct.
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export function tcpOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
