import { NODE_MACHINE, type NodeContext } from '../statemachines/index.js';
import { RackseedError } from './errors/index.js';
import { eventOp } from './events.js';
import { type FenceRecord, keys, type RemovedRecord } from './keys.js';
import { MachineHost, MachineNotFoundError } from './machine-host.js';
import type { Store } from './store/store.js';

/** The node's agent is registered: it is not dead, and fencing it by hand is refused. */
export class NodeAliveError extends RackseedError {
  constructor(node: string) {
    super(
      'FENCE_ERR_NODE_ALIVE',
      `${node} is registered (its agent holds a live lease); only a node whose lease expired can be fenced by hand`,
    );
  }
}

/**
 * `rackseed node fence NODE --confirm`: the operator states that `node` is powered off
 * (its BMC could not be reached). Records the fence for the incarnation its node machine
 * names, which lets its singletons move, and marks the machine fenced.
 */
export async function fenceByOperator(store: Store, node: string, by: string): Promise<FenceRecord> {
  const host = new MachineHost(store, NODE_MACHINE, {}, by);
  const state = await host.state(keys.nodeMachine(node));
  if (!state) throw new MachineNotFoundError(keys.nodeMachine(node));
  const context = state.context as NodeContext;
  const record: FenceRecord = { lease: context.lease, method: 'operator', at: new Date().toISOString(), by };
  // Refused while its agent is registered, checked in the same write as the record.
  const fenced = await store.txn(
    [{ key: keys.node(node), target: 'create', value: 0 }],
    [
      { put: keys.fenced(node), value: JSON.stringify(record) },
      eventOp({ type: 'node.fenced', node, detail: 'the operator confirmed it is off' }, by),
    ],
  );
  if (!fenced) throw new NodeAliveError(node);
  if (state.value === 'failed') {
    await host.apply(keys.nodeMachine(node), { type: 'node.fenced', method: 'operator' });
  }
  return record;
}

export class NodeRemoveError extends RackseedError {
  constructor(code: 'REMOVE_ERR_NODE_ALIVE' | 'REMOVE_ERR_NOT_FENCED', message: string) {
    super(code, message);
  }
}

/**
 * `rackseed node remove NODE --confirm`: the operator takes a dead, fenced node out of the
 * cluster for good. Its certificates are revoked (the provisioner adds them to the revocation
 * list every etcd member and listener enforces, within seconds) and its records go (node
 * machine, BMC, fence record) and it is marked removed, so it is no longer listed, fenced again
 * or powered on (the provisioner's BMC scan leaves a removed server alone). Its
 * singletons moved when it was fenced; its etcd member is replaced by the membership keeper
 * and its OSDs were marked out by the Ceph keeper. Should the server boot again, it is a new
 * server to the cluster: it enrolls (or waits for approval) under a new certificate.
 */
export async function removeByOperator(store: Store, node: string): Promise<{ revocationRequested: true }> {
  if (await store.get(keys.node(node))) {
    throw new NodeRemoveError(
      'REMOVE_ERR_NODE_ALIVE',
      `${node} is registered (its agent holds a live lease): power it off first`,
    );
  }
  const fenced = await store.get(keys.fenced(node));
  if (!fenced) {
    throw new NodeRemoveError(
      'REMOVE_ERR_NOT_FENCED',
      `${node} has no fence record: only a fenced node is removed (the fencer fences a dead node; see rackseed node fence)`,
    );
  }
  const removed = await store.txn(
    [{ key: keys.fenced(node), target: 'mod', value: fenced.modRevision }],
    [
      { put: keys.pkiRevoke(node), value: JSON.stringify({ requestedAt: new Date().toISOString() }) },
      { put: keys.removed(node), value: JSON.stringify({ at: new Date().toISOString() } satisfies RemovedRecord) },
      { delete: keys.nodeMachine(node) },
      { delete: keys.bmc(node) },
      { delete: keys.fenced(node) },
      eventOp(
        { type: 'node.removed', node, detail: 'removed by the operator; its certificates are revoked' },
        'operator',
      ),
    ],
  );
  if (!removed) throw new NodeRemoveError('REMOVE_ERR_NOT_FENCED', `${node} was fenced again meanwhile: try again`);
  return { revocationRequested: true };
}
