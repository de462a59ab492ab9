import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultCloudsYaml, removeCloud, writeCloud } from '../clouds-yaml.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, report, untilSignal } from '../io.js';
import { readSecret } from '../secrets.js';

const DEFAULT_DIR = '/var/lib/rackseed/labs';
/** Where `make image` puts the netboot image, relative to the repository. */
const IMAGE_DIR = '.cache/images/netboot';
const loadLab = () => import('../../../bootstrap/lab/index.js');
/** The lab's entry in the operator's clouds.yaml. */
const LAB_CLOUD = 'rackseed-lab';
const cloudsYamlOption = [
  '--clouds-yaml <file>',
  'the clouds.yaml holding the rackseed-lab entry (default ~/.config/openstack/clouds.yaml)',
] as const;

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
    .option(
      '--image <dir>',
      'serve this netboot image (vmlinuz + initrd.img; default for --boot qemu: .cache/images/netboot, `make image`)',
    )
    .option(
      '--ceph',
      'the seed and every server take part in Ceph and run the cloud over it (QEMU servers: an OSD on their virtio disk)',
    )
    .option('--gateway-port <port>', "the lab gateway's port on 127.0.0.1 (default: a free one)")
    .option(...cloudsYamlOption)
    .action(
      async (
        flags: {
          nodes: string;
          boot: string;
          dir: string;
          image?: string;
          ceph?: boolean;
          gatewayPort?: string;
          cloudsYaml?: string;
        },
        command: Command,
      ) => {
        const servers = Number(flags.nodes);
        if (!Number.isInteger(servers) || servers < 1 || servers > 16) throw new CliUsageError('--nodes must be 1..16');
        if (flags.boot !== 'netns' && flags.boot !== 'qemu') throw new CliUsageError('--boot must be netns or qemu');
        const imageDir =
          flags.image ?? (flags.boot === 'qemu' ? join(dirname(self()[1] ?? ''), '..', IMAGE_DIR) : undefined);
        if (imageDir && !existsSync(join(imageDir, 'initrd.img')))
          throw new CliUsageError(`no netboot image in ${imageDir} (build it with \`make image\`)`);
        const gatewayPort = flags.gatewayPort === undefined ? undefined : Number(flags.gatewayPort);
        if (gatewayPort !== undefined && (!Number.isInteger(gatewayPort) || gatewayPort < 1 || gatewayPort > 65535))
          throw new CliUsageError(`--gateway-port ${flags.gatewayPort} is not a TCP port`);
        const cloudsYaml = flags.cloudsYaml ? resolve(flags.cloudsYaml) : defaultCloudsYaml(io.env);
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
          ...(gatewayPort ? { gatewayPort } : {}),
          onProgress: (line) => {
            if (!options.json) io.stdout(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
          },
        });
        const gateway = info.gateway.url;
        const password = await readSecret(io, {
          file: info.adminPasswordFile,
          env: 'RACKSEED_ADMIN_PASSWORD',
          what: 'lab admin password',
        });
        await writeCloud(cloudsYaml, LAB_CLOUD, { authUrl: `${gateway}/identity`, password, cacert: info.gateway.ca });
        report(io, options, { ...info, cloud: LAB_CLOUD, cloudsYaml, seconds: (Date.now() - started) / 1000 }, (v) =>
          [
            `lab up in ${v.seconds.toFixed(1)} s: seed ${v.seedIp}, ${v.servers.length} servers ready`,
            `etcd ${v.etcd} (inside ${v.seedNetns})`,
            `API through the lab gateway: ${gateway}; cloud "${LAB_CLOUD}" written to ${v.cloudsYaml}`,
            `  try:  openstack --os-cloud ${LAB_CLOUD} server list`,
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
                  `lab ${l.scopeDir}: seed ${l.seedIp}; API ${l.gateway?.url ?? '(no gateway)'}; ${l.cluster ? l.cluster.nodes.map((n) => `${n.name}=${n.state}`).join(' ') : `cluster not answering: ${l.error}`}`,
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
      const { name } = await labAdd(info);
      report(
        io,
        command.optsWithGlobals<GlobalOptions>(),
        { name },
        (v) => `${v.name} cabled in (powered off); the provisioner's next scan takes it in`,
      );
    });

  lab
    .command('down')
    .description('remove every lab under --dir: its processes (by pid) and namespaces')
    .option('--dir <dir>', 'where labs live', DEFAULT_DIR)
    .option(...cloudsYamlOption)
    .action(async (flags: { dir: string; cloudsYaml?: string }, command: Command) => {
      const { labDown } = await loadLab();
      const removed = await labDown(flags.dir);
      await removeCloud(flags.cloudsYaml ? resolve(flags.cloudsYaml) : defaultCloudsYaml(io.env), LAB_CLOUD);
      report(io, command.optsWithGlobals<GlobalOptions>(), { removed }, (v) => `${v.removed} lab(s) removed`);
    });

  const gateway = lab
    .command('gateway', { hidden: true })
    .description("the lab gateway's two halves; `lab up` starts them (see bootstrap/lab/gateway.ts)");
  gateway
    .command('relay')
    .description("inside the lab's namespace: forward each connection on --socket to a live node's API")
    .requiredOption('--socket <path>', 'unix socket to accept on')
    .option('--etcd <urls>', "the cluster's etcd: the nodes are its live node records")
    .option('--tls <dir>', 'with --etcd: the node certificate directory to reach it with (ca.crt, node.crt, node.key)')
    .option(
      '--backend <host:port>',
      'a fixed backend instead (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--api-port <port>', "the nodes' API port", '5000')
    .action(async (flags: { socket: string; etcd?: string; tls?: string; backend: string[]; apiPort: string }) => {
      const { runGatewayRelay } = await loadLab();
      if ((flags.etcd === undefined) === (flags.backend.length === 0))
        throw new CliUsageError('give either --etcd URLS or --backend HOST:PORT');
      const apiPort = tcpPort('--api-port', flags.apiPort);
      const etcd = (flags.etcd ?? '').split(',').filter(Boolean);
      if (flags.etcd !== undefined && etcd.length === 0) throw new CliUsageError('--etcd needs at least one URL');
      const backends = flags.etcd
        ? { etcd, ...(flags.tls ? { tlsDir: flags.tls } : {}) }
        : { static: await Promise.all(flags.backend.map((b) => endpoint('--backend', b, apiPort))) };
      const relay = await runGatewayRelay({ socket: flags.socket, backends, apiPort, log: logLine(io) });
      await untilSignal();
      await relay.close();
    });
  gateway
    .command('listen')
    .description('on the host: accept on --listen and pipe each connection to the relay on --socket')
    .requiredOption('--listen <host:port>', 'address to accept on, e.g. 127.0.0.1:8000')
    .requiredOption('--socket <path>', "the relay's unix socket")
    .action(async (flags: { listen: string; socket: string }) => {
      const { runGatewayListener } = await loadLab();
      const listener = await runGatewayListener({
        listen: await endpoint('--listen', flags.listen),
        socket: flags.socket,
        log: logLine(io),
      });
      await untilSignal();
      await listener.close();
    });
}

function tcpPort(option: string, text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new CliUsageError(`${option} ${text} is not a TCP port`);
  return port;
}

/** `host[:port]` of an option; a bad one is a usage error. */
async function endpoint(option: string, text: string, defaultPort?: number) {
  const { parseEndpoint } = await loadLab();
  try {
    return parseEndpoint(text, defaultPort);
  } catch (error) {
    throw new CliUsageError(`${option}: ${(error as Error).message}`);
  }
}

/** A timestamped log line on stdout (the lab's scope keeps it in the process's log file). */
const logLine = (io: CliIo) => (line: string) => io.stdout(`${new Date().toISOString()} ${line}\n`);
