import { readdirSync, readFileSync } from 'node:fs';

/** CPU time (ms, user + system) of each thread of a process, by thread id; empty where /proc is not there. */
export function threadCpu(pid: number | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (pid === undefined) return out;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(Number(tid), ((Number(fields[11]) + Number(fields[12])) * 1000) / 100);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/** Where a process's CPU went between two readings: its main thread, its busiest other thread, the rest. */
export interface CpuSplit {
  main: number;
  busiest: number;
  others: number;
}

export function cpuSplit(pid: number | undefined, before: Map<number, number>, after: Map<number, number>): CpuSplit {
  const split: CpuSplit = { main: 0, busiest: 0, others: 0 };
  const rest: number[] = [];
  for (const [tid, ms] of after) {
    const used = ms - (before.get(tid) ?? 0);
    if (tid === pid) split.main = used;
    else rest.push(used);
  }
  rest.sort((a, b) => b - a);
  split.busiest = rest[0] ?? 0;
  split.others = rest.slice(1).reduce((s, x) => s + x, 0);
  return split;
}

export function addSplits(a: CpuSplit, b: CpuSplit): CpuSplit {
  return { main: a.main + b.main, busiest: a.busiest + b.busiest, others: a.others + b.others };
}
