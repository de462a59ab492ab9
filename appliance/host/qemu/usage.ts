/**
 * What a running guest's QEMU uses, as Nova's libvirt driver reports it for diagnostics: its
 * vCPUs' time (QMP's `query-cpus-fast` names each vCPU's thread; the kernel counts the thread's
 * time in /proc), its memory (QMP's `query-memory-size-summary`; resident: the process's VmRSS),
 * its disks' I/O (`query-blockstats`) and its uptime (the process's start time).
 */
import { readFileSync } from 'node:fs';
import type { GuestProcess, GuestUsage } from '../types.js';

/** Linux's USER_HZ: the unit of /proc's times (100 on every architecture Debian runs us on). */
const TICKS_PER_SECOND = 100;
const NS_PER_TICK = 1_000_000_000 / TICKS_PER_SECOND;

/** The QMP commands it runs (the guest's connection's `execute`). */
export type QmpExecute = <T>(command: string) => Promise<T>;

interface BlockStats {
  device?: string;
  qdev?: string;
  stats: {
    rd_bytes: number;
    wr_bytes: number;
    rd_operations: number;
    wr_operations: number;
    failed_rd_operations?: number;
    failed_wr_operations?: number;
    failed_flush_operations?: number;
  };
}

/** The fields of /proc/…/stat after the command name (which may hold spaces and parentheses), from field 3. */
function statFields(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** A thread's time on the CPUs, user and system (fields 14 and 15), in nanoseconds. */
function threadTimeNs(pid: number, tid: number): number {
  const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) * NS_PER_TICK;
}

function residentMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 1024);
}

function uptimeSeconds(process: GuestProcess): number {
  const sinceBoot = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Math.max(0, Math.floor(sinceBoot - Number(process.startTime) / TICKS_PER_SECOND));
}

export async function guestUsage(execute: QmpExecute, process: GuestProcess): Promise<GuestUsage> {
  const [cpus, memory, blocks] = await Promise.all([
    execute<{ 'cpu-index': number; 'thread-id': number }[]>('query-cpus-fast'),
    execute<{ 'base-memory': number; 'plugged-memory'?: number }>('query-memory-size-summary'),
    execute<BlockStats[]>('query-blockstats'),
  ]);
  return {
    uptimeSeconds: uptimeSeconds(process),
    memory: {
      maximumMb: Math.round((memory['base-memory'] + (memory['plugged-memory'] ?? 0)) / (1024 * 1024)),
      usedMb: residentMb(process.pid),
    },
    cpus: cpus.map((c) => ({ id: c['cpu-index'], timeNs: threadTimeNs(process.pid, c['thread-id']) })),
    // Only the disks a device is attached to (a blockdev node alone is no disk of the guest's).
    disks: blocks
      .filter((b) => b.qdev || b.device)
      .map(({ stats: s }) => ({
        readBytes: s.rd_bytes,
        readRequests: s.rd_operations,
        writeBytes: s.wr_bytes,
        writeRequests: s.wr_operations,
        errors: (s.failed_rd_operations ?? 0) + (s.failed_wr_operations ?? 0) + (s.failed_flush_operations ?? 0),
      })),
  };
}
