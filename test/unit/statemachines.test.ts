import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, initialTransition, transition } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import {
  clusterGenesisMachine,
  type NodeEvent,
  nodeMachine,
  restartDelayMs,
  type ServiceInstanceEvent,
  serviceInstanceMachine,
} from '../../statemachines/index.js';

/** Replays a path's events with the pure transition() and returns the final state value and all action types. */
function replay(
  machine: AnyStateMachine,
  input: unknown,
  events: readonly ({ type: string } & Record<string, unknown>)[],
) {
  let [snapshot, actions] = initialTransition(machine, input as never);
  const types = actions.map((a) => a.type);
  for (const event of events) {
    [snapshot, actions] = transition(machine, snapshot, event as never);
    types.push(...actions.map((a) => a.type));
  }
  return { value: snapshot.value as unknown, context: snapshot.context as Record<string, unknown>, actions: types };
}

const byValue = (s: { value: unknown }) => JSON.stringify(s.value);

describe('node machine', () => {
  const events: NodeEvent[] = [
    { type: 'bmc.power.on' },
    { type: 'node.netboot.started' },
    { type: 'node.registered', lease: 'L1' },
    { type: 'node.joined' },
    { type: 'node.drain' },
    { type: 'node.drained' },
    { type: 'node.lease.expired', lease: 'L1' },
    { type: 'node.lease.expired', lease: 'stale' },
    { type: 'node.fenced', method: 'bmc' },
    { type: 'node.fence.failed', error: 'unreachable' },
  ];
  const paths = getShortestPaths(nodeMachine, { input: { name: 'n1' }, events, serializeState: byValue });

  it('reaches every state from discovered, and replaying each shortest path lands where the graph says', () => {
    expect(paths.map((p) => p.state.value).sort()).toEqual(
      ['discovered', 'draining', 'failed', 'fenced', 'joining', 'netbooting', 'powering-on', 'ready'].sort(),
    );
    for (const path of paths) {
      expect(
        replay(
          nodeMachine,
          { name: 'n1' },
          path.steps.map((s) => s.event),
        ).value,
      ).toBe(path.state.value);
    }
  });

  it('fences on entering failed, only for the incarnation that registered last', () => {
    const up = [{ type: 'node.registered', lease: 'L1' }, { type: 'node.joined' }];
    expect(replay(nodeMachine, { name: 'n1' }, [...up, { type: 'node.lease.expired', lease: 'L0' }]).value).toBe(
      'ready',
    );
    const failed = replay(nodeMachine, { name: 'n1' }, [...up, { type: 'node.lease.expired', lease: 'L1' }]);
    expect(failed.value).toBe('failed');
    expect(failed.actions).toContain('fence');
    expect(failed.context.fenceAttempts).toBe(1);
  });

  it('has only simple paths that end in a known state (every simple path is valid)', () => {
    const simple = getSimplePaths(nodeMachine, { input: { name: 'n1' }, events, serializeState: byValue });
    expect(simple.length).toBeGreaterThanOrEqual(paths.length);
    for (const path of simple) {
      expect(
        replay(
          nodeMachine,
          { name: 'n1' },
          path.steps.map((s) => s.event),
        ).value,
      ).toBe(path.state.value);
    }
  });
});

describe('service-instance machine', () => {
  const events: ServiceInstanceEvent[] = [
    { type: 'service.enable' },
    { type: 'service.elected' },
    { type: 'service.started' },
    { type: 'service.exited', reason: 'exit code 1' },
    { type: 'service.retry' },
    { type: 'service.disable' },
    { type: 'service.suspend' },
    { type: 'service.resume' },
    { type: 'service.stopped' },
  ];

  it.each(['everywhere', 'singleton'] as const)('reaches every state it can for placement %s', (placement) => {
    const input = { service: 's', placement };
    const paths = getShortestPaths(serviceInstanceMachine, { input, events, serializeState: byValue });
    const expected = ['backoff', 'running', 'starting', 'stopped', 'stopping', 'suspending', 'resuming', 'suspended'];
    if (placement === 'singleton') expected.push('candidate');
    expect(paths.map((p) => p.state.value).sort()).toEqual(expected.sort());
    for (const path of paths) {
      expect(
        replay(
          serviceInstanceMachine,
          input,
          path.steps.map((s) => s.event),
        ).value,
      ).toBe(path.state.value);
    }
  });

  it('starts a singleton only once elected, and resigns after stopping', () => {
    const input = { service: 'db', placement: 'singleton' as const };
    const candidate = replay(serviceInstanceMachine, input, [{ type: 'service.enable' }]);
    expect(candidate.value).toBe('candidate');
    expect(candidate.actions).not.toContain('spawn');
    const run = replay(serviceInstanceMachine, input, [
      { type: 'service.enable' },
      { type: 'service.elected' },
      { type: 'service.started' },
      { type: 'service.disable' },
      { type: 'service.stopped' },
    ]);
    expect(run.value).toBe('stopped');
    expect(run.actions).toEqual(['spawn', 'kill', 'resign']);
  });

  it('suspends a singleton without resigning, starts it again on resume, and resigns only when disabled', () => {
    const input = { service: 'db', placement: 'singleton' as const };
    const up = [{ type: 'service.enable' }, { type: 'service.elected' }, { type: 'service.started' }] as const;
    const suspended = replay(serviceInstanceMachine, input, [
      ...up,
      { type: 'service.suspend' },
      { type: 'service.stopped' },
    ]);
    expect(suspended.value).toBe('suspended');
    expect(suspended.actions).toEqual(['spawn', 'kill']);
    const resumed = replay(serviceInstanceMachine, input, [
      ...up,
      { type: 'service.suspend' },
      { type: 'service.stopped' },
      { type: 'service.resume' },
    ]);
    expect(resumed.value).toBe('starting');
    expect(resumed.actions).toEqual(['spawn', 'kill', 'spawn']);
    // Resumed before its process stopped: no second process until the first is gone.
    const early = replay(serviceInstanceMachine, input, [
      ...up,
      { type: 'service.suspend' },
      { type: 'service.resume' },
    ]);
    expect(early.value).toBe('resuming');
    expect(early.actions).toEqual(['spawn', 'kill']);
    const given = replay(serviceInstanceMachine, input, [
      ...up,
      { type: 'service.suspend' },
      { type: 'service.stopped' },
      { type: 'service.disable' },
    ]);
    expect(given.value).toBe('stopped');
    expect(given.actions).toEqual(['spawn', 'kill', 'resign']);
  });

  it('backs off 0.5 s, 1 s, 2 s … up to 30 s between restarts', () => {
    expect([1, 2, 3, 4, 20].map(restartDelayMs)).toEqual([500, 1_000, 2_000, 4_000, 30_000]);
    const input = { service: 'api', placement: 'everywhere' as const };
    const crashy = replay(serviceInstanceMachine, input, [
      { type: 'service.enable' },
      { type: 'service.started' },
      { type: 'service.exited', reason: 'exit code 1' },
      { type: 'service.retry' },
      { type: 'service.exited', reason: 'exit code 2' },
    ]);
    expect(crashy.value).toBe('backoff');
    expect(crashy.context).toMatchObject({ restarts: 2, lastExit: 'exit code 2' });
  });
});

describe('cluster-genesis machine', () => {
  it('goes seed → quorum → steady and never back', () => {
    const events = [1, 2, 3, 4, 5].map((voters) => ({ type: 'etcd.voters.changed' as const, voters }));
    const paths = getShortestPaths(clusterGenesisMachine, { events, serializeState: byValue });
    expect(paths.map((p) => p.state.value).sort()).toEqual(['quorum', 'seed', 'steady']);
    const back = replay(
      clusterGenesisMachine,
      undefined,
      [events[2], events[0]].filter((e) => e !== undefined),
    );
    expect(back.value).toBe('quorum');
    expect(back.context.voters).toBe(1);
    expect(
      replay(
        clusterGenesisMachine,
        undefined,
        [events[4]].filter((e) => e !== undefined),
      ).value,
    ).toBe('steady');
  });
});
