import { type FenceRecord, keys, type NodeRecord, type SingletonClaim } from './keys.js';
import type { Entry, Store } from './store/store.js';
import { parseJson } from './store/store.js';
import { eventOp } from './events.js';
import { PrefixView } from './store/view.js';

/** What the elections tell the agent. */
export interface ElectionHooks {
  /** This node now holds `service`: start it. */
  /** This node won `service`; `failover` when it took it over from another node. */
  elected(service: string, failover: boolean): void;
  /** This node no longer holds `service` (an operator or a newer claim took it): stop it at once. */
  deposed(service: string): void;
  /** A node's registration vanished (its lease expired or was revoked). */
  nodeGone(name: string, lease: string): void;
  /** A fence record was written: `name` is powered off. */
  fenced?(name: string): void;
  /** A claim or a fence record changed. */
  changed(): void;
}

function json<T>(entry: Entry | undefined): T | undefined {
  if (!entry) return undefined;
  try {
    return parseJson<T>(entry);
  } catch {
    return undefined; // a corrupt claim counts as none we can act on
  }
}

/**
 * Singleton elections. A claim (`/rackseed/singletons/<service>`) names the holder's node and
 * lease and is not leased itself, so that it outlives a holder that dies. A candidate takes
 * a singleton, with a transaction on the claim's revision, only when there is no claim, when
 * the claim is its own node's (a previous incarnation, whose processes it killed at start),
 * or when the claimed incarnation is dead *and fenced* (`/rackseed/fenced/<node>` names that
 * lease). So a singleton never starts on a second node while the first may still run it.
 */
export class Elections {
  private lease = '';
  private eligible = false;
  private readonly campaigning = new Set<string>();
  private readonly held = new Map<string, string>(); // service → lease it was claimed under
  private running = false;
  private again = false;

  private constructor(
    private readonly store: Store,
    private readonly node: string,
    private readonly hooks: ElectionHooks,
    readonly nodes: PrefixView,
    readonly claims: PrefixView,
    readonly fenced: PrefixView,
  ) {}

  static async open(store: Store, node: string, hooks: ElectionHooks): Promise<Elections> {
    const ref: { self?: Elections } = {};
    const poke = () => ref.self?.evaluate();
    const nodes = await PrefixView.open(store, keys.nodes, (_key, previous, current) => {
      if (previous && !current) {
        const record = json<NodeRecord>(previous);
        if (record) hooks.nodeGone(record.name, record.lease);
      }
      poke();
    });
    const claims = await PrefixView.open(store, keys.singletons, () => {
      hooks.changed();
      poke();
    });
    const fenced = await PrefixView.open(store, keys.fencedAll, (key, previous, current) => {
      if (current && current.modRevision !== previous?.modRevision) hooks.fenced?.(key.slice(keys.fencedAll.length));
      hooks.changed();
      poke();
    });
    ref.self = new Elections(store, node, hooks, nodes, claims, fenced);
    return ref.self;
  }

  /** The lease claims are made under, and whether it is surely valid (claims only while it is). */
  setLease(lease: string, eligible: boolean): void {
    this.lease = lease;
    this.eligible = eligible;
    this.evaluate();
  }

  campaign(service: string, on: boolean): void {
    if (on) this.campaigning.add(service);
    else this.campaigning.delete(service);
    this.evaluate();
  }

  claim(service: string): SingletonClaim | undefined {
    return json<SingletonClaim>(this.claims.get(service));
  }

  /** Whether this node holds `service` under its current lease (its claim says so). */
  holds(service: string): boolean {
    const lease = this.held.get(service);
    const claim = this.claim(service);
    return lease !== undefined && lease === this.lease && claim?.node === this.node && claim.lease === lease;
  }

  /** Whether `name`'s incarnation `lease` is registered right now. */
  alive(name: string, lease: string): boolean {
    return json<NodeRecord>(this.nodes.get(name))?.lease === lease;
  }

  fenceRecord(name: string): FenceRecord | undefined {
    return json<FenceRecord>(this.fenced.get(name));
  }

  /** Gives up `service` if this node holds it (after its process stopped). */
  async resign(service: string): Promise<void> {
    const lease = this.held.get(service);
    this.held.delete(service);
    if (lease === undefined) return;
    const entry = this.claims.get(service);
    const claim = json<SingletonClaim>(entry);
    if (!entry || claim?.node !== this.node || claim.lease !== lease) return;
    await this.store
      .txn(
        [{ key: keys.singleton(service), target: 'mod', value: entry.modRevision }],
        [{ delete: keys.singleton(service) }],
      )
      .catch(() => {}); // unreachable: the claim stays, and the fencer decides
  }

  /** Re-evaluates every singleton; serialized, and repeated if something changed meanwhile. */
  evaluate(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void (async () => {
      do {
        this.again = false;
        await this.round().catch(() => {
          this.again = true;
        });
        if (this.again) await new Promise((resolve) => setTimeout(resolve, 20));
      } while (this.again);
      this.running = false;
    })();
  }

  private async round(): Promise<void> {
    for (const [service, lease] of [...this.held]) {
      const claim = this.claim(service);
      if (claim?.node !== this.node || claim.lease !== lease) {
        this.held.delete(service);
        this.hooks.deposed(service);
      }
    }
    if (!this.eligible || this.lease === '') return;
    for (const service of this.campaigning) {
      if (this.held.has(service)) continue;
      const entry = this.claims.get(service);
      const claim = json<SingletonClaim>(entry);
      const key = keys.singleton(service);
      const mine = { node: this.node, lease: this.lease, since: new Date().toISOString() };
      const self = { key: keys.node(this.node), target: 'lease' as const, value: this.lease };
      // The claim and its event in one write: the log tells each election once, and only if it won.
      const claimed = (detail: string) => [
        { put: key, value: JSON.stringify(mine) },
        eventOp({ type: 'singleton.elected', node: this.node, detail: `${service}: ${detail}` }, this.node),
      ];
      let won = false;
      if (claim?.node === this.node && claim.lease === this.lease) {
        won = true;
      } else if (!entry) {
        won = await this.store.txn([{ key, target: 'create', value: 0 }, self], claimed('its first holder'));
      } else if (claim?.node === this.node) {
        won = await this.store.txn(
          [{ key, target: 'mod', value: entry.modRevision }, self],
          claimed('again, in its new incarnation'),
        );
      } else if (claim && !this.alive(claim.node, claim.lease)) {
        const fence = this.fenced.get(claim.node);
        if (!fence || json<FenceRecord>(fence)?.lease !== claim.lease) continue; // wait for the fencer
        won = await this.store.txn(
          [
            { key, target: 'mod', value: entry.modRevision },
            { key: fence.key, target: 'mod', value: fence.modRevision },
            self,
          ],
          claimed(`took over from ${claim.node} (fenced)`),
        );
      }
      if (won && !this.held.has(service)) {
        this.held.set(service, this.lease);
        this.hooks.elected(service, claim !== undefined && claim.node !== this.node);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.nodes.close(), this.claims.close(), this.fenced.close()]);
  }
}
