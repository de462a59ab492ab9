import type { BmcPowerDriver, BmcPowerSession, BmcRecord } from '../../agent/index.js';
import { IpmiClient } from './client.js';

/** How long one fencing attempt may take; the fencer retries on its own schedule. */
const FENCE_TIMEOUT_MS = 4_000;
/** How long a watching session's question may take: the watch asks again on its next round. */
const WATCH_TIMEOUT_MS = 1_000;

/**
 * The agent's BMC driver on rackseed's own IPMI v2.0 client (RMCP+, cipher suite 3): one
 * session per fencing call, closed afterwards, or one kept open by a power watch. A hard
 * power-off is Chassis Control "power down".
 */
export class IpmiPowerDriver implements BmcPowerDriver {
  private static connect(bmc: BmcRecord, timeoutMs: number): Promise<IpmiClient> {
    return IpmiClient.connect({
      host: bmc.host,
      port: bmc.port,
      userName: bmc.user,
      password: bmc.password,
      timeoutMs,
    });
  }

  private async withClient<T>(bmc: BmcRecord, use: (client: IpmiClient) => Promise<T>): Promise<T> {
    const client = await IpmiPowerDriver.connect(bmc, FENCE_TIMEOUT_MS);
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  }

  async powerOff(bmc: BmcRecord): Promise<void> {
    await this.withClient(bmc, (client) => client.chassisControl('off'));
  }

  async powerState(bmc: BmcRecord): Promise<'on' | 'off'> {
    return (await this.withClient(bmc, (client) => client.chassisStatus())).powerOn ? 'on' : 'off';
  }

  async session(bmc: BmcRecord): Promise<BmcPowerSession> {
    const client = await IpmiPowerDriver.connect(bmc, WATCH_TIMEOUT_MS);
    return {
      powerState: async () => ((await client.chassisStatus()).powerOn ? 'on' : 'off'),
      close: () => client.close(),
    };
  }
}
