// The benchmark's own processes: API, worker and the bare worker each run as a child node
// process (`node --import tsx`, so the pid is the process doing the work), with their RSS and
// CPU time read from /proc while they run.
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const CLOCK_TICKS = 100; // USER_HZ on Linux
const PAGE_KB = 4;

export interface ProcStats {
  rssMb: number;
  cpuSeconds: number;
}

/** RSS and user+system CPU of a live pid, from /proc (null once it is gone or off Linux). */
export function procStats(pid: number | undefined): ProcStats | null {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
    const rssPages = Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return { rssMb: Math.round((rssPages * PAGE_KB) / 1024), cpuSeconds: +cpuSeconds.toFixed(2) };
  } catch {
    return null;
  }
}

/** Samples a process every `everyMs`: peak RSS since the last reset. */
export class Sampler {
  private peak = 0;
  private timer: NodeJS.Timeout;
  constructor(private readonly pid: () => number | undefined, everyMs = 250) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  private sample(): ProcStats | null {
    const s = procStats(this.pid());
    if (s) this.peak = Math.max(this.peak, s.rssMb);
    return s;
  }
  /** Current figures plus the peak since the previous call. */
  read(): (ProcStats & { peakRssMb: number }) | null {
    const s = this.sample();
    const peakRssMb = this.peak;
    this.peak = s?.rssMb ?? 0;
    return s ? { ...s, peakRssMb } : null;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

export interface NodeProcess {
  name: string;
  child: ChildProcess;
  sampler: Sampler;
  stop(): Promise<void>;
}

/**
 * Starts `node --import tsx <script>` from the project root with `env` added; its output goes
 * to `logFile`. With `cpuProfDir`, V8 writes a .cpuprofile there when the process exits.
 */
export function startNode(name: string, script: string, env: Record<string, string>, opts: { logFile: string; cpuProfDir?: string; ipc?: boolean }): NodeProcess {
  const nodeArgs = ['--import', 'tsx'];
  if (opts.cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${path.join(opts.cpuProfDir, name)}`); // one file per thread
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'w');
  const child = spawn(process.execPath, [...nodeArgs, script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: opts.ipc ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd] });
  fs.closeSync(fd);
  const onExit = () => child.kill('SIGKILL');
  process.on('exit', onExit);
  const sampler = new Sampler(() => child.pid);
  return {
    name,
    child,
    sampler,
    async stop() {
      sampler.stop();
      process.off('exit', onExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM'); // both entry points drain on SIGTERM (and write their profile)
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The worker's memory breakdown over its IPC channel (worker.ts answers `worker-memory`). */
export function askMemory(proc: NodeProcess, timeoutMs = 10_000): Promise<unknown> {
  const { child } = proc;
  if (!child.connected) return Promise.reject(new Error(`${proc.name} has no IPC channel`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`${proc.name} did not answer worker-memory within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (msg: unknown) => {
      const m = msg as { type?: string; memory?: unknown };
      if (m?.type !== 'worker-memory') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m.memory);
    };
    child.on('message', onMessage);
    child.send({ type: 'worker-memory' });
  });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `check` until it resolves true; fails naming `what` (and the process, if it died). */
export async function waitFor(what: string, check: () => Promise<boolean>, proc?: NodeProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}) before ${what}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
