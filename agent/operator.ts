import { NODE_MACHINE, type NodeContext } from '../statemachines/index.js';
import { RackseedError } from './errors/index.js';
import { type FenceRecord, keys } from './keys.js';
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
  if (await store.get(keys.node(node))) throw new NodeAliveError(node);
  const host = new MachineHost(store, NODE_MACHINE);
  const state = await host.state(keys.nodeMachine(node));
  if (!state) throw new MachineNotFoundError(keys.nodeMachine(node));
  const context = state.context as NodeContext;
  const record: FenceRecord = { lease: context.lease, method: 'operator', at: new Date().toISOString(), by };
  await store.put(keys.fenced(node), JSON.stringify(record));
  if (state.value === 'failed') {
    await host.apply(keys.nodeMachine(node), { type: 'node.fenced', method: 'operator' });
  }
  return record;
}
