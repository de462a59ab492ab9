import { EventLog, followEtcdEndpoints, NodeTls, Store } from '../../agent/index.js';
import { type DbMasterOptions, startDbMaster } from './master.js';

/**
 * A master process's options: the master's, with etcd as URLs and the node's certificate as its
 * directory; logging and exit are wired by {@link runMasterProcess}.
 */
export type MasterProcessConfig = Omit<DbMasterOptions, 'etcd' | 'tls' | 'log' | 'onLost'> & {
  etcd: readonly string[];
  tlsDir: string;
};

/**
 * Runs this process as a database master candidate until SIGTERM/SIGINT. Prints one JSON line
 * per event on stdout, and records its takeovers (`db.master.ready`) in the cluster's event log. When it loses leadership (a paused or fenced master must not linger) the
 * process ends at once with SIGKILL: exit handlers would run libceph's static destructors while
 * libcephsqlite's threads still run, which aborts (std::out_of_range) anyway. After
 * SIGTERM/SIGINT it closes the database and resigns, so the next master opens at once.
 */
export async function runMasterProcess(config: MasterProcessConfig): Promise<void> {
  const { etcd: hosts, tlsDir, ...options } = config;
  const tls = new NodeTls(tlsDir);
  // The endpoints it was started with may include members that leave: it follows the voters.
  const store = Store.connect(hosts, tls);
  const events = new EventLog(store, config.node, (message) => print('db.master.event.failed', { message }));
  const print = (event: string, fields: Record<string, unknown>) => {
    process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);
    // A takeover is an event of the cluster's log: the DB master serves again.
    if (event === 'db.master.ready' && typeof fields.ms === 'number') {
      events.record({
        type: 'db.master.ready',
        node: config.node,
        durationMs: fields.ms,
        detail: `the database master serves, ${fields.ms} ms after its election`,
      });
    }
  };
  const following = await followEtcdEndpoints(store);
  const master = await startDbMaster({
    ...options,
    etcd: store.client,
    tls,
    log: print,
    onLost: () => process.kill(process.pid, 'SIGKILL'),
  });
  print('db.master.listening', { node: config.node, url: master.url });
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  await master.stop().finally(async () => {
    await following.close();
    await store.close();
    await tls.close();
  });
}
