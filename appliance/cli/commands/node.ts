import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { OsdDiskPolicy } from '../../../agent/index.js';
import { cephConnect, connectStore, loadAgent, loadCloudServices, RACKSEED, TLS_OPTION } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, logStrayRejections, report } from '../io.js';

const loadSeed = () => import('../../../bootstrap/seed/index.js');

const isOsdDiskPolicy = (value: string): value is OsdDiskPolicy => value === 'auto' || /^\/dev\/[^/]+$/.test(value);

/** `rackseed node boot|held|accept|fence|remove`: one node's life in the cluster. */
export function registerNode(program: Command, io: CliIo): void {
  const node = program.command('node').description('operate on one node');

  node
    .command('boot')
    .description('start a netbooted node: enroll with the seed (once), then run the agent (the image runs this)')
    .option('--cmdline <text>', 'the kernel command line (default: $RACKSEED_CMDLINE, else /proc/cmdline)')
    .option(
      '--data-dir <dir>',
      'where the node keeps its state (default: $RACKSEED_STATE_DIR/data, else /var/lib/rackseed)',
    )
    .option(
      '--osd-disk <auto|/dev/NAME>',
      'put the OSD on a whole disk, never one with data: the first blank one, or this one (default: $RACKSEED_OSD_DISK, else a sparse file in the data dir)',
    )
    .option('--set-clock', "step this machine's clock to its boot server's first (the netboot image does)")
    .action(
      async (flags: { cmdline?: string; dataDir?: string; osdDisk?: string; setClock?: boolean }, command: Command) => {
        logStrayRejections(io);
        const json = command.optsWithGlobals<GlobalOptions>().json;
        const log = (line: string) =>
          io.stdout(json ? `${JSON.stringify({ time: new Date().toISOString(), message: line })}\n` : `${line}\n`);
        const cmdline = flags.cmdline ?? io.env.RACKSEED_CMDLINE ?? (await readFile('/proc/cmdline', 'utf8'));
        const dataDir =
          flags.dataDir ?? (io.env.RACKSEED_STATE_DIR ? join(io.env.RACKSEED_STATE_DIR, 'data') : '/var/lib/rackseed');
        const osdDisk = flags.osdDisk ?? (io.env.RACKSEED_OSD_DISK || undefined);
        if (osdDisk !== undefined && !isOsdDiskPolicy(osdDisk))
          throw new CliUsageError(`--osd-disk is auto or /dev/NAME (a whole disk), not ${osdDisk}`);
        const { bootNode, machineGuid } = await loadSeed();
        const agent = await bootNode({
          cmdline,
          guid: machineGuid(io.env),
          dataDir,
          log,
          ...(osdDisk ? { osdDisk } : {}),
          ...(flags.setClock ? { setClock: true } : {}),
          cloud: async (cloud) => (await loadCloudServices()).cloudServices(RACKSEED, cloud),
          cephConnect,
        });
        const shutdown = () => void agent.stop();
        process.once('SIGTERM', shutdown);
        process.once('SIGINT', shutdown);
        await agent.stopped;
      },
    );

  node
    .command('held')
    .description('servers that netbooted unannounced and wait for rackseed node accept')
    .option('--etcd <urls>', 'comma-separated etcd client URLs (default: $RACKSEED_ETCD)')
    .option(...TLS_OPTION)
    .action(async (flags: { etcd?: string; tls?: string }, command: Command) => {
      const store = await connectStore(flags, io);
      try {
        const { Enrollment } = await loadSeed();
        const held = await new Enrollment(store, { autoAccept: false }).held();
        report(io, command.optsWithGlobals<GlobalOptions>(), held, (list) =>
          list.length === 0
            ? 'no server is waiting'
            : list.map((h) => `${h.mac}  guid ${h.guid}  since ${h.since}`).join('\n'),
        );
      } finally {
        await store.close();
      }
    });

  node
    .command('accept')
    .description('let a held server (by MAC) join the cluster')
    .argument('<mac>', 'the server’s MAC, as rackseed node held lists it')
    .option('--etcd <urls>', 'comma-separated etcd client URLs (default: $RACKSEED_ETCD)')
    .option(...TLS_OPTION)
    .action(async (mac: string, flags: { etcd?: string; tls?: string }, command: Command) => {
      const store = await connectStore(flags, io);
      try {
        const { Enrollment } = await loadSeed();
        await new Enrollment(store, { autoAccept: false }).accept(mac);
        report(
          io,
          command.optsWithGlobals<GlobalOptions>(),
          { mac, accepted: true },
          () => `${mac} accepted: it joins at its next enrollment attempt`,
        );
      } finally {
        await store.close();
      }
    });

  node
    .command('fence')
    .description('record that a dead node is powered off (when its BMC cannot be reached), so its singletons may move')
    .argument('<node>', 'the node’s name')
    .option('--confirm', 'I have made sure the node is powered off')
    .option('--etcd <urls>', 'comma-separated etcd client URLs (default: $RACKSEED_ETCD)')
    .option(...TLS_OPTION)
    .action(async (name: string, flags: { confirm?: boolean; etcd?: string; tls?: string }, command: Command) => {
      if (!flags.confirm) {
        throw new CliUsageError(
          `fencing by hand lets ${name}'s singletons start elsewhere: make sure it is powered off, then add --confirm`,
        );
      }
      const store = await connectStore(flags, io);
      try {
        const { fenceByOperator } = await loadAgent();
        const record = await fenceByOperator(store, name, `operator@${hostname()}`);
        report(
          io,
          command.optsWithGlobals<GlobalOptions>(),
          { node: name, ...record },
          () => `${name} recorded as fenced`,
        );
      } finally {
        await store.close();
      }
    });

  node
    .command('remove')
    .description('take a dead, fenced node out of the cluster for good: revoke its certificates, drop its records')
    .argument('<node>', 'the node’s name')
    .option('--confirm', 'the node is gone for good (a server that boots again enrolls as a new node)')
    .option('--etcd <urls>', 'comma-separated etcd client URLs (default: $RACKSEED_ETCD)')
    .option(...TLS_OPTION)
    .action(async (name: string, flags: { confirm?: boolean; etcd?: string; tls?: string }, command: Command) => {
      if (!flags.confirm) {
        throw new CliUsageError(`removing ${name} revokes its certificates and drops its records: add --confirm`);
      }
      const store = await connectStore(flags, io);
      try {
        const { removeByOperator } = await loadAgent();
        await removeByOperator(store, name);
        report(
          io,
          command.optsWithGlobals<GlobalOptions>(),
          { node: name, removed: true },
          () => `${name} removed: its certificates are revoked within seconds (rackseed status shows it no more)`,
        );
      } finally {
        await store.close();
      }
    });
}
