/**
 * statemachines/ — pure xstate machine definitions (node, service instance, server, cluster
 * genesis) with their event and context types and snapshot versions. Nothing here does I/O,
 * reads a clock or starts a timer; effects are named actions that the agent provides.
 */
export {};
