import type { Server } from '../db/index.js';

/** A compute host as the hypervisors API shows it. */
export interface HostInfo {
  hostname: string;
  hypervisorType: string;
  hypervisorVersion: number;
  hostIp: string;
  vcpus: number;
  memoryMb: number;
  localGb: number;
}

/**
 * What runs servers. Each method resolves when the server is in the asked-for state (or
 * rejects with why not); the server service turns that into the machine's next event.
 */
export interface ComputeDriver {
  readonly name: string;
  hosts(): HostInfo[];
  /** The host a new server goes to. */
  place(server: Pick<Server, 'id' | 'projectId'>): string;
  spawn(server: Server): Promise<void>;
  powerOff(server: Server): Promise<void>;
  powerOn(server: Server): Promise<void>;
  reboot(server: Server, hard: boolean): Promise<void>;
  destroy(server: Server): Promise<void>;
}

/** The `fake` driver: every operation succeeds at once; for scale tests and API conformance. */
export class FakeDriver implements ComputeDriver {
  readonly name = 'fake';

  constructor(private readonly hostname = 'rackseed-fake-0') {}

  hosts(): HostInfo[] {
    return [
      {
        hostname: this.hostname,
        hypervisorType: 'fake',
        hypervisorVersion: 1000,
        hostIp: '127.0.0.1',
        vcpus: 1024,
        memoryMb: 4 * 1024 * 1024,
        localGb: 100_000,
      },
    ];
  }

  place(): string {
    return this.hostname;
  }

  async spawn(): Promise<void> {}
  async powerOff(): Promise<void> {}
  async powerOn(): Promise<void> {}
  async reboot(): Promise<void> {}
  async destroy(): Promise<void> {}
}
