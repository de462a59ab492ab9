import type { Command } from 'commander';
import type { BootDevice, ChassisAction, IpmiClient, IpmiClientOptions } from '../../../bootstrap/ipmi/index.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, report } from '../io.js';
import { readSecret } from '../secrets.js';

interface ConnectOptions {
  host: string;
  port: string;
  user: string;
  passwordFile?: string;
  cipher: string;
  timeout: string;
}

function integer(value: string, what: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliUsageError(`${what} must be an integer in ${min}..${max}`);
  return n;
}

async function withClient<T>(io: CliIo, o: ConnectOptions, run: (client: IpmiClient) => Promise<T>): Promise<T> {
  const password = await readSecret(io, { file: o.passwordFile, env: 'RACKSEED_BMC_PASSWORD', what: 'BMC password' });
  const options: IpmiClientOptions = {
    host: o.host,
    port: integer(o.port, '--port', 1, 65535),
    userName: o.user,
    password,
    cipherSuite: integer(o.cipher, '--cipher', 0, 255),
    timeoutMs: integer(o.timeout, '--timeout', 1, 600_000),
  };
  // Loaded on use, so that `rackseed --help` and other verbs do not pay for it.
  const { IpmiClient } = await import('../../../bootstrap/ipmi/index.js');
  const client = await IpmiClient.connect(options);
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

function connection(command: Command): Command {
  return command
    .requiredOption('--host <host>', 'BMC address')
    .option('--port <port>', 'BMC UDP port', '623')
    .requiredOption('--user <user>', 'BMC user name')
    .option('--password-file <file>', 'file holding the BMC password (else RACKSEED_BMC_PASSWORD)')
    .option('--cipher <suite>', 'RMCP+ cipher suite: 3 (HMAC-SHA1) or 17 (HMAC-SHA256)', '3')
    .option('--timeout <ms>', 'bound of each exchange with the BMC, retries included', '5000');
}

const POWER: Record<string, { action: ChassisAction; text: string }> = {
  on: { action: 'on', text: 'power on' },
  off: { action: 'off', text: 'power off (hard)' },
  cycle: { action: 'cycle', text: 'power cycle' },
  reset: { action: 'reset', text: 'hard reset' },
  soft: { action: 'soft', text: 'soft shutdown (ACPI)' },
};

/** `rackseed bmc …`: power control, inventory and boot device of one BMC; discovery of many. */
export function registerBmc(program: Command, io: CliIo): void {
  const bmc = program.command('bmc').description('control servers through their BMCs (IPMI v2.0 RMCP+)');

  connection(bmc.command('status').description('chassis power state')).action(
    async (o: ConnectOptions, command: Command) => {
      const status = await withClient(io, o, (c) => c.chassisStatus());
      const value = { host: o.host, power: status.powerOn ? 'on' : 'off', ...status };
      report(io, command.optsWithGlobals<GlobalOptions>(), value, (v) => `${v.host}: power ${v.power}`);
    },
  );

  for (const [verb, { action, text }] of Object.entries(POWER)) {
    connection(bmc.command(verb).description(text)).action(async (o: ConnectOptions, command: Command) => {
      await withClient(io, o, (c) => c.chassisControl(action));
      report(
        io,
        command.optsWithGlobals<GlobalOptions>(),
        { host: o.host, action: verb, done: true },
        (v) => `${v.host}: ${text} sent`,
      );
    });
  }

  connection(bmc.command('info').description('device ID, GUID, authentication capabilities')).action(
    async (o: ConnectOptions, command: Command) => {
      const value = await withClient(io, o, async (c) => ({
        host: o.host,
        device: await c.deviceId(),
        guid: await c.systemGuid(),
        capabilities: c.capabilities,
      }));
      report(
        io,
        command.optsWithGlobals<GlobalOptions>(),
        value,
        (v) =>
          `${v.host}: IPMI ${v.device.ipmiVersion}, manufacturer ${v.device.manufacturerId}, product 0x${v.device.productId.toString(16)}, ` +
          `firmware ${v.device.firmwareMajor}.${String(v.device.firmwareMinor).padStart(2, '0')}, GUID ${v.guid}`,
      );
    },
  );

  connection(bmc.command('fru').description('board and product inventory (FRU 0)')).action(
    async (o: ConnectOptions, command: Command) => {
      const fru = await withClient(io, o, (c) => c.fru());
      report(io, command.optsWithGlobals<GlobalOptions>(), { host: o.host, ...fru }, (v) =>
        [
          `board:   ${v.board?.manufacturer ?? '-'} ${v.board?.product ?? '-'} serial ${v.board?.serial ?? '-'}`,
          `product: ${v.product?.manufacturer ?? '-'} ${v.product?.name ?? '-'} serial ${v.product?.serial ?? '-'} asset ${v.product?.assetTag ?? '-'}`,
        ].join('\n'),
      );
    },
  );

  connection(
    bmc
      .command('bootdev')
      .description('set the boot device and read it back')
      .argument('<device>', 'pxe, disk or bios')
      .option('--efi', 'EFI boot (default legacy)')
      .option('--persistent', 'every boot (default: next boot only)'),
  ).action(async (device: string, o: ConnectOptions & { efi?: boolean; persistent?: boolean }, command: Command) => {
    if (!['pxe', 'disk', 'bios'].includes(device))
      throw new CliUsageError(`boot device must be pxe, disk or bios, not ${device}`);
    const result = await withClient(io, o, (c) =>
      c.setBootDevice(device as BootDevice, { efi: o.efi ?? false, persistent: o.persistent ?? false }),
    );
    report(
      io,
      command.optsWithGlobals<GlobalOptions>(),
      { host: o.host, ...result },
      (v) => `${v.host}: boot device ${v.readBack.device} (read back)`,
    );
  });

  bmc
    .command('scan')
    .description('find BMCs in an IPv4 range (ASF presence ping, then authentication capabilities)')
    .argument('<cidr>', 'e.g. 10.0.0.0/22')
    .option('--port <port>', 'UDP port', '623')
    .option('--concurrency <n>', 'addresses probed at once', '256')
    .option('--timeout <ms>', 'how long a silent address is waited for', '1000')
    .action(async (cidr: string, o: { port: string; concurrency: string; timeout: string }, command: Command) => {
      const { scanBmcs } = await import('../../../bootstrap/ipmi/index.js');
      const found = await scanBmcs({
        cidr,
        port: integer(o.port, '--port', 1, 65535),
        concurrency: integer(o.concurrency, '--concurrency', 1, 4096),
        timeoutMs: integer(o.timeout, '--timeout', 1, 60_000),
      });
      report(io, command.optsWithGlobals<GlobalOptions>(), found, (list) =>
        [
          `${list.length} BMC(s) in ${cidr}`,
          ...list.map(
            (b) =>
              `${b.address}:${b.port}  ${b.capabilities?.ipmi20 ? 'IPMI 2.0' : b.capabilities ? 'IPMI 1.5 only' : 'IPMI?'}  rtt ${b.rttMs} ms`,
          ),
        ].join('\n'),
      );
    });
}
