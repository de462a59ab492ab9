import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, report } from '../io.js';

const DEFAULT_DIR = '/var/lib/rackseed/labs';
/** Where `make image` puts the netboot image, relative to the repository. */
const IMAGE_DIR = '.cache/images/netboot';
const loadLab = () => import('../../../bootstrap/lab/index.js');

/** How the lab's seed and servers run rackseed: the same program as this command. */
function self(): string[] {
  const script = process.argv[1];
  if (!script) throw new CliUsageError('cannot tell how rackseed was started');
  return [process.execPath, script];
}

/** `rackseed lab up|status|add|down`: a rack on this machine, built from real parts. */
export function registerLab(program: Command, io: CliIo): void {
  const lab = program
    .command('lab')
    .description('a rack on this machine from real parts: namespaces, ipmi_sim BMCs, a seed');

  lab
    .command('up')
    .description('build a lab rack, start its seed, wait until every server is a ready node')
    .option('--nodes <n>', 'servers besides the seed', '4')
    .option(
      '--boot <mode>',
      'how servers boot: netns (a firmware script in a namespace) or qemu (QEMU PXE-boots the image)',
      'netns',
    )
    .option('--dir <dir>', 'where labs live', DEFAULT_DIR)
    .option('--ceph', 'the seed and every server take part in Ceph (netns boot only)')
    .option(
      '--image <dir>',
      'serve this netboot image (vmlinuz + initrd.img; default for --boot qemu: .cache/images/netboot, `make image`)',
    )
    .action(
      async (flags: { nodes: string; boot: string; dir: string; image?: string; ceph?: boolean }, command: Command) => {
        const servers = Number(flags.nodes);
        if (!Number.isInteger(servers) || servers < 1 || servers > 16) throw new CliUsageError('--nodes must be 1..16');
        if (flags.boot !== 'netns' && flags.boot !== 'qemu') throw new CliUsageError('--boot must be netns or qemu');
        if (flags.ceph && flags.boot === 'qemu')
          throw new CliUsageError('--ceph needs --boot netns (the netboot image has no Ceph)');
        const imageDir =
          flags.image ?? (flags.boot === 'qemu' ? join(dirname(self()[1] ?? ''), '..', IMAGE_DIR) : undefined);
        if (imageDir && !existsSync(join(imageDir, 'initrd.img')))
          throw new CliUsageError(`no netboot image in ${imageDir} (build it with \`make image\`)`);
        const options = command.optsWithGlobals<GlobalOptions>();
        const { labUp } = await loadLab();
        const started = Date.now();
        const info = await labUp({
          dir: flags.dir,
          servers,
          rackseed: self(),
          ...(imageDir ? { image: { dir: imageDir, kernel: 'vmlinuz', initrd: 'initrd.img' } } : {}),
          qemu: flags.boot === 'qemu' ? servers : 0,
          ...(flags.ceph ? { ceph: true } : {}),
          readyTimeoutMs: flags.boot === 'qemu' ? 600_000 : 180_000,
          onProgress: (line) => {
            if (!options.json) io.stdout(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
          },
        });
        report(io, options, { ...info, seconds: (Date.now() - started) / 1000 }, (v) =>
          [
            `lab up in ${v.seconds.toFixed(1)} s: seed ${v.seedIp}, ${v.servers.length} servers ready`,
            `etcd ${v.etcd} (inside ${v.seedNetns})`,
            `remove it with: rackseed lab down --dir ${flags.dir}`,
          ].join('\n'),
        );
      },
    );

  lab
    .command('status')
    .description('the labs under --dir and the state of their clusters')
    .option('--dir <dir>', 'where labs live', DEFAULT_DIR)
    .action(async (flags: { dir: string }, command: Command) => {
      const { inSeed, labs } = await loadLab();
      type Entry = ReturnType<typeof labs>[number] & {
        cluster: { nodes: { name: string; state: string }[] } | null;
        error: string | null;
      };
      const value = await Promise.all(
        labs(flags.dir).map(async (info): Promise<Entry> => {
          try {
            return { ...info, cluster: JSON.parse(await inSeed(info, self(), ['--json', 'status'])), error: null };
          } catch (error) {
            return { ...info, cluster: null, error: error instanceof Error ? error.message : String(error) };
          }
        }),
      );
      report(io, command.optsWithGlobals<GlobalOptions>(), value, (list) =>
        list.length === 0
          ? `no lab under ${flags.dir}`
          : list
              .map(
                (l) =>
                  `lab ${l.scopeDir}: seed ${l.seedIp}; ${l.cluster ? l.cluster.nodes.map((n) => `${n.name}=${n.state}`).join(' ') : `cluster not answering: ${l.error}`}`,
              )
              .join('\n'),
      );
    });

  lab
    .command('add')
    .description('cable one more server into the lab; the seed finds it and it joins by itself')
    .option('--dir <dir>', 'where labs live', DEFAULT_DIR)
    .action(async (flags: { dir: string }, command: Command) => {
      const { labAdd, labs } = await loadLab();
      const [info, ...more] = labs(flags.dir);
      if (!info || more.length > 0) throw new CliUsageError(`expected exactly one lab under ${flags.dir}`);
      const name = await labAdd(info);
      report(
        io,
        command.optsWithGlobals<GlobalOptions>(),
        { name },
        (v) => `${v.name} cabled in (powered off); the seed's next scan takes it in`,
      );
    });

  lab
    .command('down')
    .description('remove every lab under --dir: its processes (by pid) and namespaces')
    .option('--dir <dir>', 'where labs live', DEFAULT_DIR)
    .action(async (flags: { dir: string }, command: Command) => {
      const { labDown } = await loadLab();
      const removed = await labDown(flags.dir);
      report(io, command.optsWithGlobals<GlobalOptions>(), { removed }, (v) => `${v.removed} lab(s) removed`);
    });
}
