import { Election } from 'etcd3';
import type { BmcPowerDriver, BmcPowerSession } from './fencer.js';
import type { BmcRecord, NodeRecord } from './keys.js';
import { parseJson, type Store } from './store/store.js';
import type { PrefixView } from './store/view.js';

/** How often the watched BMC is asked for the chassis power. */
const ROUND_MS = 500;

export interface PowerWatchOptions {
  readonly self: string;
  /** The nodes' registrations (`/rackseed/nodes/`), as the agent's elections follow them. */
  readonly nodes: PrefixView;
  /** How to reach a node's BMC (see fencer.ts's `readBmc`). */
  readonly bmc: (node: string) => Promise<BmcRecord | undefined>;
  readonly driver: BmcPowerDriver;
  /** The BMC says `node` is off while its incarnation `lease` is still registered: told once per incarnation. */
  readonly lost: (node: string, lease: string) => void;
  readonly log: (message: string) => void;
  readonly roundMs?: number;
}

/**
 * The power watch (issue #15). Each agent keeps an RMCP+ session open with the BMC of the next
 * registered node in name order (the last node watches the first), so every node's power is
 * watched by one other node and every BMC serves one watching session, and asks it for the
 * chassis power every 500 ms. The moment it says off while that node is still registered, the
 * node is gone: `lost` is told (the agent marks its OSD down and revokes its leases, see
 * {@link releaseLeases}), half a second after the power went rather than when its leases run
 * out (the DB master's 2 s, a registration's 3 s). A BMC is the authority the fencer already
 * trusts to say a node is off; a node whose BMC cannot be reached is left to its leases.
 */
export function watchNeighbourPower(options: PowerWatchOptions): { close(): Promise<void> } {
  const roundMs = options.roundMs ?? ROUND_MS;
  let watched: string | undefined;
  let session: BmcPowerSession | undefined;
  let told: string | undefined; // the incarnation already told lost
  let lastProblem: string | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const registration = (node: string) => {
    const entry = options.nodes.get(node);
    if (!entry) return undefined;
    try {
      return parseJson<NodeRecord>(entry);
    } catch {
      return undefined;
    }
  };
  const next = (): string | undefined => {
    const { prefix, entries } = options.nodes;
    const names = [...entries.keys()].map((key) => key.slice(prefix.length)).sort();
    return names.find((name) => name > options.self) ?? names.find((name) => name !== options.self);
  };
  const drop = async () => {
    const open = session;
    session = undefined;
    await open?.close().catch(() => {});
  };
  const problem = (message: string) => {
    if (message !== lastProblem) options.log(message);
    lastProblem = message;
  };

  const round = async () => {
    const node = next();
    if (node !== watched) {
      await drop();
      watched = node;
      lastProblem = undefined;
    }
    if (node === undefined) return;
    const lease = registration(node)?.lease;
    if (lease === undefined || lease === told) return;
    try {
      if (!session) {
        const bmc = await options.bmc(node);
        if (!bmc) return problem(`no BMC is known for ${node}: its power is not watched`);
        session = await options.driver.session(bmc);
        if (closed) return await drop(); // closed while it opened
      }
      if ((await session.powerState()) !== 'off') {
        lastProblem = undefined;
        return;
      }
    } catch (error) {
      await drop();
      return problem(`cannot watch ${node}'s power through its BMC: ${String(error)}`);
    }
    if (closed || registration(node)?.lease !== lease) return;
    told = lease;
    options.lost(node, lease);
  };

  const loop = () => {
    timer = setTimeout(() => {
      void round().finally(() => {
        if (!closed) loop();
      });
    }, roundMs);
  };
  loop();
  return {
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await drop();
    },
  };
}

/**
 * Revokes the leases of a node that is off: its `registration` lease if given (its singletons
 * are then fenced and move, as after the lease's expiry) and those of its candidacies in the
 * services' own elections (the DB master's: the next candidate takes over at once, and fences
 * the last master's lock before it opens the database, as ever). Called by the power watch,
 * and by the fencer once it powered a node off (whose registration ran out while its DB master
 * still renewed its own lease: an agent that hung). Resolves how many leases it revoked.
 */
export async function releaseLeases(
  store: Store,
  node: string,
  elections: readonly string[],
  registration?: string,
): Promise<number> {
  const leases = new Set(registration === undefined ? [] : [registration]);
  for (const name of elections) {
    for (const entry of (await store.list(`${Election.prefix}/${name}/`)).entries) {
      try {
        if (parseJson<{ node?: unknown }>(entry).node === node && entry.lease !== '0') leases.add(entry.lease);
      } catch {
        // not a candidacy we know
      }
    }
  }
  await Promise.all([...leases].map((id) => store.revokeLease(id)));
  return leases.size;
}
