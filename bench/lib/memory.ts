// Where a process' resident memory is, from /proc/<pid>/smaps: file-backed (code, the
// native SDK library), the main malloc arena ([heap]), glibc's per-thread malloc arenas
// (64 MiB-aligned anonymous reservations, HEAP_MAX_SIZE on 64-bit) and the other anonymous
// mappings (the V8 heaps' pages of every isolate, large mmap'ed blocks, thread stacks).
import fs from 'node:fs';

const ARENA = 64 * 2 ** 20;

export interface SmapsBreakdown {
  rssMb: number;
  fileMb: number;
  brkHeapMb: number;
  mallocArenasMb: number;
  mallocArenas: number;
  otherAnonMb: number;
}

interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  inode: string;
  rssKb: number;
}

export function parseSmaps(text: string): Mapping[] {
  const maps: Mapping[] = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      maps.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3], inode: head[4], path: head[5].trim(), rssKb: 0 });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && maps.length > 0) maps[maps.length - 1].rssKb = Number(rss[1]);
  }
  return maps;
}

export function smapsBreakdown(maps: Mapping[]): SmapsBreakdown {
  const mb = (kb: number) => Math.round(kb / 102.4) / 10;
  let file = 0;
  let brk = 0;
  let arenas = 0;
  let arenaCount = 0;
  let other = 0;
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    if (m.inode !== '0' || m.path.startsWith('/')) file += m.rssKb;
    else if (m.path === '[heap]') brk += m.rssKb;
    else if (m.start % BigInt(ARENA) === 0n && m.perms.startsWith('rw') && arenaEnd(maps, i) - m.start === BigInt(ARENA)) {
      arenas += m.rssKb;
      arenaCount += 1;
    } else other += m.rssKb;
  }
  return { rssMb: mb(file + brk + arenas + other), fileMb: mb(file), brkHeapMb: mb(brk), mallocArenasMb: mb(arenas), mallocArenas: arenaCount, otherAnonMb: mb(other) };
}

/** End of an arena: its rw part followed by its PROT_NONE remainder, if contiguous. */
function arenaEnd(maps: Mapping[], i: number): bigint {
  const next = maps[i + 1];
  return next && next.start === maps[i].end && next.perms.startsWith('---') && next.inode === '0' && next.path === '' ? next.end : maps[i].end;
}

export function processSmaps(pid: number | undefined): SmapsBreakdown | null {
  if (!pid) return null;
  try {
    return smapsBreakdown(parseSmaps(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8')));
  } catch {
    return null;
  }
}
