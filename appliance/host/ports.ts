import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HostPortError } from './errors.js';
import type { GuestPorts } from './service.js';

const run = promisify(execFile);

/** Linux's interface names hold 15 characters: `tap` and the port id's first 11, as Nova names them. */
export function tapName(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}

/**
 * Guests' taps: one per port, plugged into the node's guest bridge (the provider network) when
 * there is one. Made with iproute2 as root; idempotent (an existing tap is reused, an absent one
 * is not an error to remove).
 */
export class TapPorts implements GuestPorts {
  constructor(private readonly bridge: string | undefined) {}

  async plug(portId: string): Promise<string> {
    const tap = tapName(portId);
    if (!(await exists(tap))) await ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap'], tap);
    if (this.bridge) await ip(['link', 'set', 'dev', tap, 'master', this.bridge], tap);
    await ip(['link', 'set', 'dev', tap, 'up'], tap);
    return tap;
  }

  async unplug(portId: string): Promise<void> {
    const tap = tapName(portId);
    if (await exists(tap)) await ip(['link', 'del', 'dev', tap], tap);
  }
}

async function exists(tap: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'show', 'dev', tap]);
    return true;
  } catch {
    return false;
  }
}

async function ip(args: readonly string[], tap: string): Promise<void> {
  try {
    await run('ip', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? '';
    throw new HostPortError(`cannot set up the tap ${tap} (ip ${args.join(' ')}): ${stderr}`, error);
  }
}
