import type { Command } from 'commander';
import type { ClusterEvent } from '../../../agent/index.js';
import { connectStore, loadAgent, TLS_OPTION } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import type { CliIo, GlobalOptions } from '../io.js';

/** One event as a line: time, node, type, what, who recorded it. */
function line(event: ClusterEvent): string {
  const code = event.code ? ` [${event.code}]` : '';
  return `${event.at} ${(event.node ?? '-').padEnd(12)} ${event.type.padEnd(20)} ${event.detail}${code} (by ${event.by})`;
}

/**
 * `rackseed events [--follow] [--node N] [--limit N]`: the cluster's event log (agent/events.ts),
 * oldest first; `--follow` then prints each new event as it is recorded, until interrupted.
 * With `--json`, one JSON object per event and line (as the log keeps it), followed or not.
 */
export function registerEvents(program: Command, io: CliIo): void {
  program
    .command('events')
    .description(
      'the cluster’s events: node transitions, fences, elections, enrollments, failovers and errors with their codes',
    )
    .option('--etcd <urls>', 'comma-separated etcd client URLs (default: $RACKSEED_ETCD)')
    .option(...TLS_OPTION)
    .option('--node <name>', 'only the events about this node or recorded by it')
    .option('--limit <n>', 'only the newest N of the log (before following)', '100')
    .option('-f, --follow', 'then print new events as they are recorded, until interrupted')
    .action(
      async (
        flags: { etcd?: string; tls?: string; node?: string; limit: string; follow?: boolean },
        command: Command,
      ) => {
        const limit = Number(flags.limit);
        if (!Number.isInteger(limit) || limit < 0) throw new CliUsageError(`--limit ${flags.limit} is not a count`);
        const json = command.optsWithGlobals<GlobalOptions>().json === true;
        const print = (event: ClusterEvent) => io.stdout(`${json ? JSON.stringify(event) : line(event)}\n`);
        const store = await connectStore(flags, io);
        try {
          const { listEvents, followEvents } = await loadAgent();
          const filter = flags.node === undefined ? {} : { node: flags.node };
          const { events, revision } = await listEvents(store, { ...filter, limit });
          events.forEach(print);
          if (!flags.follow) return;
          const watch = await followEvents(store, revision, filter, print);
          await new Promise<void>((resolve) => {
            for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
          });
          await watch.close();
        } finally {
          await store.close();
        }
      },
    );
}
