import { randomBytes } from 'node:crypto';
import { type Command, Option } from 'commander';
import type { TimedNetbootEvent } from '../../../bootstrap/netboot/index.js';
import type { CliIo, GlobalOptions } from '../io.js';

interface ServeOptions {
  interface: string;
  subnet: string;
  range?: string;
  proxy?: boolean;
  reservations?: string;
  tftpRoot: string;
  files: string;
  httpPort: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  leases: string;
  leaseSeconds: string;
  routerAdverts: boolean;
}

function human(e: TimedNetbootEvent): string {
  return [e.time, e.type.padEnd(18), e.mac || '-', e.ip ?? '-', e.detail ?? ''].join(' ').trimEnd();
}

/** `rackseed netboot serve`: DHCP/ProxyDHCP + TFTP + HTTP boot on one interface, printing boot events until stopped. */
export function registerNetboot(program: Command, io: CliIo): void {
  const netboot = program.command('netboot').description('network boot services for the rack');
  netboot
    .command('serve')
    .description('serve DHCP (or ProxyDHCP), TFTP and HTTP boot on one interface; print boot events until stopped')
    .requiredOption('--interface <if>', 'the provisioning interface (required: nothing is served elsewhere)')
    .requiredOption('--subnet <cidr>', "the interface's subnet, e.g. 10.213.0.0/24")
    .option('--range <first-last>', 'the dynamic address pool (not with --proxy)')
    .option('--proxy', 'ProxyDHCP: PXE boot answers only, beside an existing DHCP server')
    .option('--reservations <file>', 'JSON object of fixed addresses by MAC')
    .option('--tftp-root <dir>', 'directory served over TFTP (iPXE binaries)', '/usr/lib/ipxe')
    .option('--files <dir>', 'directory of kernel, initrd and images served over HTTP', '.')
    .option('--http-port <port>', 'HTTP boot port', '8080')
    .option('--kernel <name>', 'kernel file name under --files', 'vmlinuz')
    .option('--initrd <name>', 'initrd file name under --files', 'initrd.gz')
    .option('--cmdline <args>', 'kernel command line', 'console=ttyS0')
    .option('--lease-seconds <n>', 'lease time', '3600')
    .option('--no-router-adverts', 'do not run radvd (iPXE then waits ~13 s for IPv6 autoconfiguration)')
    .addOption(
      new Option('--leases <file>', 'lease journal (crash-safe JSON lines)').default(
        '/var/lib/rackseed/netboot-leases.jsonl',
      ),
    )
    .action(async (options: ServeOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      // Until enrollment lands, each MAC gets a random token for the life of this process.
      const tokens = new Map<string, string>();
      const token = (mac: string): string => {
        const t = tokens.get(mac) ?? randomBytes(16).toString('hex');
        tokens.set(mac, t);
        return t;
      };
      const { startNetboot } = await import('../../../bootstrap/netboot/index.js'); // loaded on use
      const netbootServer = await startNetboot({
        interface: options.interface,
        subnet: options.subnet,
        range: options.range,
        proxy: options.proxy,
        reservationsFile: options.reservations,
        tftpRoot: options.tftpRoot,
        filesDir: options.files,
        httpPort: Number(options.httpPort),
        kernel: options.kernel,
        initrd: options.initrd,
        cmdline: options.cmdline,
        leases: options.leases,
        leaseSeconds: Number(options.leaseSeconds),
        routerAdverts: options.routerAdverts,
        token,
        onEvent: (e) => io.stdout(global.json ? `${JSON.stringify(e)}\n` : `${human(e)}\n`),
      });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await netbootServer.close();
    });
}
