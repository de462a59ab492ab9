import { execFile } from 'node:child_process';
import { availableParallelism, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { childEnv } from '../../agent/process/index.js';

const run = promisify(execFile);

/** QEMU's version as Nova's hypervisor_version shows it: major × 1,000,000 + minor × 1,000 + micro. */
export async function qemuVersion(binary = 'qemu-system-x86_64'): Promise<number> {
  const { stdout } = await run(binary, ['--version'], { env: childEnv() });
  const [, major = '0', minor = '0', micro = '0'] = /version (\d+)\.(\d+)\.(\d+)/.exec(stdout) ?? [];
  return Number(major) * 1_000_000 + Number(minor) * 1_000 + Number(micro);
}

/** This machine's processors and memory, as a host offers them to guests (before allocation ratios). */
export function machineSize(): { vcpus: number; memoryMb: number } {
  return { vcpus: availableParallelism(), memoryMb: Math.floor(totalmem() / 1024 / 1024) };
}
