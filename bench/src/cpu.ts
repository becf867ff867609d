/**
 * CPU time of processes, for the benchmark's CPU-per-operation figures. Throughput on a shared
 * two-core machine moves ±15 % from run to run with everything else running there; the CPU a
 * system spends per operation at a fixed rate moves far less.
 *
 * Reads Linux's /proc/<pid>/stat (user + system time of every thread of the process, in clock
 * ticks). Processes that exit between two samples simply stop contributing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked). */
function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

let ticksPerSecond: number | undefined;

/**
 * Parses one /proc/<pid>/stat line into user and system seconds. The command name (field 2)
 * is in parentheses and may hold spaces, so fields are counted from its closing parenthesis.
 */
export function parseProcStat(line: string, ticks: number): { readonly userSeconds: number; readonly systemSeconds: number } {
  const close = line.lastIndexOf(')');
  if (close < 0) throw new Error(`Not a /proc/<pid>/stat line: ${line.slice(0, 80)}`);
  // After ") ": state (field 3), ..., utime (field 14), stime (field 15).
  const fields = line.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`No utime/stime in /proc/<pid>/stat line: ${line.slice(0, 80)}`);
  return { userSeconds: utime / ticks, systemSeconds: stime / ticks };
}

/** CPU seconds (user + system) used so far by each running process of `pids`, summed. */
export function processesCpuSeconds(pids: readonly number[]): number {
  ticksPerSecond ??= clockTicksPerSecond();
  let total = 0;
  for (const pid of pids) {
    let line: string;
    try {
      line = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited
    }
    const { userSeconds, systemSeconds } = parseProcStat(line, ticksPerSecond);
    total += userSeconds + systemSeconds;
  }
  return total;
}

/** Whether per-process CPU time can be read here (Linux /proc). */
export function canReadProcessCpu(): boolean {
  try {
    readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) this process has used so far. */
export function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}
