/**
 * statemachines/ — pure xstate machine definitions (node, service instance, server, cluster
 * genesis) with their event and context types and snapshot versions. Nothing here does I/O,
 * reads a clock or starts a timer; effects are named actions that the agent provides.
 */
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
