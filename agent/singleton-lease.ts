import type { Elections } from './elections.js';
import type { KeptLease } from './store/store.js';
import type { Supervisor } from './supervisor.js';

/** What {@link followLease} drives. */
export interface SingletonLeaseParts {
  readonly elections: Pick<Elections, 'setLease' | 'holds'>;
  readonly supervisor: Pick<Supervisor, 'send' | 'state' | 'disable' | 'disableAll'>;
  /** The names of this node's singleton services. */
  singletons(): string[];
  /** Enables `service` if the node is fit to run it. */
  enable(service: string): void;
  /** Registers the node again, under a new lease. */
  register(): Promise<void>;
  log(message: string): void;
}

/**
 * How a node's singletons follow its lease. A lease about to expire (its keepalives unanswered
 * for a while: etcd's leader lost its power, or this node is cut off) stops them at once, since
 * a singleton must never outlive its node's lease, but keeps their claims: no other node takes
 * one over unless this one is fenced, and they start again here as soon as the lease is
 * renewed. Giving the claims up at once would move every singleton of every node whose lease
 * merely wavered while etcd chose a new leader. A lost lease gives them up, and the node
 * registers again.
 */
export function followLease(lease: Pick<KeptLease, 'id' | 'on'>, parts: SingletonLeaseParts): void {
  const { elections, supervisor } = parts;
  lease.on('expiring', () => {
    parts.log(`lease ${lease.id} about to expire: suspending singletons`);
    elections.setLease(lease.id, false);
    for (const service of parts.singletons()) supervisor.send(service, { type: 'service.suspend' });
  });
  lease.on('renewed', () => {
    parts.log(`lease ${lease.id} renewed`);
    elections.setLease(lease.id, true);
    for (const service of parts.singletons()) {
      if (elections.holds(service)) supervisor.send(service, { type: 'service.resume' });
      else if (supervisor.state(service) !== 'candidate') {
        void supervisor.disable(service).then(() => parts.enable(service));
      }
    }
  });
  lease.on('lost', () => {
    parts.log(`lease ${lease.id} lost: giving up singletons, registering again`);
    void supervisor.disableAll('singleton').then(parts.register);
  });
}
