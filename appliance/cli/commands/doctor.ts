import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { RackseedError } from '../../../agent/errors/index.js';
import { childEnv } from '../../../agent/process/index.js';
import { type CliIo, type GlobalOptions, report } from '../io.js';

const run = promisify(execFile);

/** A program rackseed runs on a node, the Debian package that brings it, and what needs it. */
interface Requirement {
  command: string;
  versionArgs: string[];
  debianPackage: string;
  neededFor: string;
}

const REQUIREMENTS: readonly Requirement[] = [
  {
    command: 'etcd',
    versionArgs: ['--version'],
    debianPackage: 'etcd-server',
    neededFor: 'cluster state',
  },
  {
    command: 'ceph-mon',
    versionArgs: ['--version'],
    debianPackage: 'ceph-mon',
    neededFor: 'storage (monitor)',
  },
  {
    command: 'ceph-osd',
    versionArgs: ['--version'],
    debianPackage: 'ceph-osd',
    neededFor: 'storage (OSD)',
  },
  {
    command: 'ceph-mgr',
    versionArgs: ['--version'],
    debianPackage: 'ceph-mgr',
    neededFor: 'storage (manager: HEALTH_OK, PG stats)',
  },
  {
    command: 'ceph',
    versionArgs: ['--version'],
    debianPackage: 'ceph-common',
    neededFor: 'storage (the agent drives Ceph with its CLI)',
  },
  {
    command: 'ipmitool',
    versionArgs: ['-V'],
    debianPackage: 'ipmitool',
    neededFor: 'fencing fallback and BMC checks',
  },
  {
    command: 'ipmi_sim',
    versionArgs: ['--version'],
    debianPackage: 'openipmi',
    neededFor: "the lab rack's simulated BMCs",
  },
  {
    command: 'ip',
    versionArgs: ['-V'],
    debianPackage: 'iproute2',
    neededFor: "the lab rack's network namespaces",
  },
];

interface Check {
  command: string;
  ok: boolean;
  version: string | null;
  debianPackage: string;
  neededFor: string;
}

class DoctorError extends RackseedError {
  constructor(missing: readonly Check[]) {
    const install = [...new Set(missing.map((c) => c.debianPackage))].join(' ');
    super(
      'CLI_ERR_MISSING_TOOLS',
      `missing ${missing.map((c) => c.command).join(', ')}; install them with: apt-get install ${install}`,
    );
  }
}

async function check(requirement: Requirement): Promise<Check> {
  const base = {
    command: requirement.command,
    debianPackage: requirement.debianPackage,
    neededFor: requirement.neededFor,
  };
  try {
    const { stdout, stderr } = await run(requirement.command, requirement.versionArgs, {
      timeout: 10_000,
      env: childEnv(),
    });
    const firstLine = `${stdout}${stderr}`.trim().split('\n', 1)[0] ?? '';
    return { ...base, ok: true, version: firstLine };
  } catch (error) {
    // `ipmi_sim --version` exits non-zero after printing its version: found is what counts.
    const { code, stdout, stderr } = error as { code?: unknown; stdout?: string; stderr?: string };
    if (code === 'ENOENT') return { ...base, ok: false, version: null };
    return {
      ...base,
      ok: true,
      version: `${stdout ?? ''}${stderr ?? ''}`.trim().split('\n', 1)[0] ?? '',
    };
  }
}

/** `rackseed doctor`: checks that this machine has the programs a rackseed node runs. */
export function registerDoctor(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description('check that this machine has the programs a rackseed node needs')
    .action(async (_options: object, command: Command) => {
      const checks = await Promise.all(REQUIREMENTS.map(check));
      const value = { node: process.versions.node, root: process.getuid?.() === 0, checks };
      report(io, command.optsWithGlobals<GlobalOptions>(), value, (v) =>
        [
          `node ${v.node}${v.root ? ', running as root' : ', not root (the lab rack needs root)'}`,
          ...v.checks.map(
            (c) =>
              `${c.ok ? 'ok     ' : 'MISSING'} ${c.command.padEnd(9)} ${c.ok ? c.version : `apt-get install ${c.debianPackage}`}  (${c.neededFor})`,
          ),
        ].join('\n'),
      );
      const missing = checks.filter((c) => !c.ok);
      if (missing.length > 0) throw new DoctorError(missing);
    });
}
