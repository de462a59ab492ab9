/**
 * statemachines/ — pure xstate machine definitions (node, service instance, server, cluster
 * genesis) with their event and context types and snapshot versions. Nothing here does I/O,
 * reads a clock or starts a timer; effects are named actions that the agent provides.
 */
export type { MachineDefinition, PersistedSnapshot } from './definition.js';
export { NODE_MACHINE, NODE_MACHINE_VERSION, type NodeContext, type NodeEvent, nodeMachine } from './node.js';
export {
  restartDelayMs,
  SERVICE_INSTANCE_MACHINE,
  SERVICE_INSTANCE_MACHINE_VERSION,
  type ServiceInstanceContext,
  type ServiceInstanceEvent,
  serviceInstanceMachine,
} from './service-instance.js';
export {
  CLUSTER_GENESIS_MACHINE,
  CLUSTER_GENESIS_MACHINE_VERSION,
  type ClusterGenesisContext,
  type ClusterGenesisEvent,
  clusterGenesisMachine,
} from './cluster-genesis.js';
export {
  SERVER_MACHINE_VERSION,
  serverMachine,
  serverStatusView,
  type ServerContext,
  type ServerEffect,
  type ServerEvent,
  type ServerStateValue,
  type ServerStatusView,
} from './server.js';
