import { installed } from '../installed.js';

/**
 * The parts of Ceph this machine can run, by the programs it has. The netboot image carries the
 * daemons, not Ceph's Python programs: its nodes run an OSD and may host a monitor, never the
 * manager. The agent drives the monitors through librados, so no role needs the `ceph` CLI.
 */
export interface CephRoles {
  /** An OSD: every node that takes part in Ceph runs one. */
  readonly osd: boolean;
  /** A monitor, when the Ceph keeper assigns one (made with monmaptool and `ceph-mon --mkfs`). */
  readonly monitor: boolean;
  /** The manager singleton (`ceph-mgr`, Python). */
  readonly manager: boolean;
}

export function cephRoles(env: NodeJS.ProcessEnv = process.env): CephRoles {
  return {
    osd: installed('ceph-osd', env),
    monitor: installed('ceph-mon', env) && installed('monmaptool', env),
    manager: installed('ceph-mgr', env),
  };
}
