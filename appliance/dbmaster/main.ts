// The database master as a process of its own: `node dist/appliance/dbmaster/main.js CONFIG_JSON`.
// Prints one JSON line per event on stdout. When it loses leadership (a paused or fenced master
// must not linger) it ends at once with SIGKILL: exit handlers would run libceph's static
// destructors while libcephsqlite's threads still run, which aborts (std::out_of_range) anyway.
// After SIGTERM/SIGINT it closes the database and resigns, so the next master opens at once.
import { Etcd3 } from 'etcd3';
import { type DbMasterOptions, startDbMaster } from './master.js';

/** The process's one JSON argument: the master's options, etcd as URLs; logging and exit are wired here. */
type MasterProcessConfig = Omit<DbMasterOptions, 'etcd' | 'log' | 'onLost'> & { etcd: string[] };

const config = JSON.parse(process.argv[2] ?? '{}') as MasterProcessConfig;
const print = (event: string, fields: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);

const { etcd: hosts, ...options } = config;
const etcd = new Etcd3({ hosts });
const master = await startDbMaster({
  ...options,
  etcd,
  log: print,
  onLost: () => process.kill(process.pid, 'SIGKILL'),
});
print('db.master.listening', { node: config.node, url: master.url });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void master
      .stop()
      .finally(() => etcd.close())
      .finally(() => process.exit(0));
  });
}
