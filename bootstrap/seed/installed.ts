import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Whether `command` is on this machine's PATH (or in /usr/sbin, /sbin, where Debian puts daemons). */
export function installed(command: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].some(
    (dir) => dir !== '' && existsSync(join(dir, command)),
  );
}

/**
 * Whether this machine can take part in Ceph: its daemons and the `ceph` CLI the Ceph keeper
 * drives. The netboot image has none of them (its budget), so a node booted from it joins a
 * Ceph cluster as a node without Ceph: no OSD, never a monitor, no cloud services.
 */
export function canRunCeph(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['ceph-mon', 'ceph-osd', 'ceph'].every((command) => installed(command, env));
}
