import { describe, expect, it } from 'vitest';
import { initialTransition, type SnapshotFrom, transition } from 'xstate';
import { type ServerEvent, type ServerStateValue, serverMachine, serverStatusView } from '../../statemachines/index.js';

const EVENTS: ServerEvent[] = [
  { type: 'spawned' },
  { type: 'failed', message: 'no host' },
  { type: 'stop' },
  { type: 'stopped' },
  { type: 'start' },
  { type: 'started' },
  { type: 'reboot', hard: false },
  { type: 'reboot', hard: true },
  { type: 'rebooted' },
  { type: 'pause' },
  { type: 'paused' },
  { type: 'unpause' },
  { type: 'unpaused' },
  { type: 'suspend' },
  { type: 'suspended' },
  { type: 'resume' },
  { type: 'resumed' },
  { type: 'rebuild' },
  { type: 'rebuilt' },
  { type: 'resize' },
  { type: 'migrate' },
  { type: 'resizeFinished' },
  { type: 'confirmResize' },
  { type: 'resizeConfirmed' },
  { type: 'revertResize' },
  { type: 'resizeReverted' },
  { type: 'createImage' },
  { type: 'imageCreated' },
  { type: 'shelve', imageId: 'img-1' },
  { type: 'shelved' },
  { type: 'unshelve' },
  { type: 'unshelved' },
  { type: 'delete' },
  { type: 'deleted' },
];

const ALL_STATES: ServerStateValue[] = [
  'building',
  'active',
  'stopping',
  'shutoff',
  'starting',
  'rebooting',
  'pausing',
  'paused',
  'unpausing',
  'suspending',
  'suspended',
  'resuming',
  'rebuilding',
  'resizing',
  'resized',
  'confirmingResize',
  'revertingResize',
  'snapshotting',
  'shelving',
  'shelvedOffloaded',
  'unshelving',
  'error',
  'deleting',
  'deleted',
];

/**
 * Every snapshot (state and context) the events reach from BUILD, breadth first. xstate's
 * getShortestPaths weighs every pair of its thousands of snapshots: minutes where this takes one second.
 */
let reached: SnapshotFrom<typeof serverMachine>[] | undefined;
function reachable(): SnapshotFrom<typeof serverMachine>[] {
  if (reached) return reached;
  const key = (s: SnapshotFrom<typeof serverMachine>) =>
    JSON.stringify([
      s.value,
      Object.entries(s.context)
        .filter(([, v]) => v !== undefined)
        .sort(),
    ]);
  const [start] = initialTransition(serverMachine);
  const seen = new Map([[key(start), start]]);
  for (const queue = [start]; queue.length > 0;) {
    const snapshot = queue.shift() as SnapshotFrom<typeof serverMachine>;
    for (const event of EVENTS.filter((e) => snapshot.can(e))) {
      const [next] = transition(serverMachine, snapshot, event);
      if (!seen.has(key(next))) {
        seen.set(key(next), next);
        queue.push(next);
      }
    }
  }
  reached = [...seen.values()];
  return reached;
}

describe('server machine', () => {
  // Some thirty thousand snapshots: seconds, past the default timeout on a loaded machine.
  it('reaches every state from BUILD', { timeout: 60_000 }, () => {
    const values = new Set(reachable().map((s) => s.value as string));
    expect([...values].sort()).toEqual([...ALL_STATES].sort());
  });

  it('maps every reachable state (value and context) to a Nova view', () => {
    const snapshots = reachable();
    expect(snapshots.length).toBeGreaterThan(20);
    for (const snapshot of snapshots) {
      const view = serverStatusView(snapshot.value as ServerStateValue, snapshot.context);
      expect(view.status).toMatch(
        /^(BUILD|ACTIVE|SHUTOFF|PAUSED|SUSPENDED|REBOOT|HARD_REBOOT|REBUILD|RESIZE|VERIFY_RESIZE|REVERT_RESIZE|SHELVED_OFFLOADED|ERROR|DELETED)$/,
      );
      if (snapshot.value === 'active') expect(view.taskState).toBeNull();
    }
  });

  it('asks for the named effects on entry, without running anything', () => {
    const [start, startActions] = initialTransition(serverMachine);
    expect(startActions.map((a) => a.type)).toEqual(['spawn']);
    const [active, none] = transition(serverMachine, start, { type: 'spawned' });
    expect(active.value).toBe('active');
    expect(none.map((a) => a.type)).toEqual([]);
    const [stopping, stopActions] = transition(serverMachine, active, { type: 'stop' });
    expect(stopActions.map((a) => a.type)).toEqual(['powerOff']);
    const [shutoff] = transition(serverMachine, stopping, { type: 'stopped' });
    expect(serverStatusView(shutoff.value as ServerStateValue, shutoff.context).status).toBe('SHUTOFF');
    const [deleting, deleteActions] = transition(serverMachine, shutoff, { type: 'delete' });
    expect(deleteActions.map((a) => a.type)).toEqual(['destroy']);
    const [deleted] = transition(serverMachine, deleting, { type: 'deleted' });
    expect(deleted.status).toBe('done');
  });

  it('refuses events a state does not take (the API answers 409)', () => {
    const [start] = initialTransition(serverMachine);
    expect(start.can({ type: 'stop' })).toBe(false);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    expect(active.can({ type: 'start' })).toBe(false);
    const [stopping] = transition(serverMachine, active, { type: 'stop' });
    const [shutoff] = transition(serverMachine, stopping, { type: 'stopped' });
    expect(shutoff.can({ type: 'reboot', hard: false })).toBe(false);
    expect(shutoff.can({ type: 'reboot', hard: true })).toBe(true);
  });

  it('records faults and the reboot kind in its context', () => {
    const [start] = initialTransition(serverMachine);
    const [error] = transition(serverMachine, start, { type: 'failed', message: 'no host' });
    expect(error.context.fault).toEqual({ message: 'no host' });
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [hard] = transition(serverMachine, active, { type: 'reboot', hard: true });
    expect(serverStatusView('rebooting', hard.context).status).toBe('HARD_REBOOT');
    const [soft] = transition(serverMachine, active, { type: 'reboot', hard: false });
    expect(serverStatusView('rebooting', soft.context).status).toBe('REBOOT');
  });

  it('keeps a server as it was when a stop or a start fails, and a hard reboot leaves ERROR (as Nova)', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [stopping] = transition(serverMachine, active, { type: 'stop' });
    const [stillActive] = transition(serverMachine, stopping, { type: 'failed', message: 'host unreachable' });
    expect(stillActive.value).toBe('active');
    const [shutoff] = transition(serverMachine, transition(serverMachine, active, { type: 'stop' })[0], {
      type: 'stopped',
    });
    const [starting] = transition(serverMachine, shutoff, { type: 'start' });
    const [stillOff] = transition(serverMachine, starting, { type: 'failed', message: 'host unreachable' });
    expect(stillOff.value).toBe('shutoff');
    const [error] = transition(serverMachine, start, { type: 'failed', message: 'no host' });
    expect(error.can({ type: 'reboot', hard: false })).toBe(false);
    const [rebooting, actions] = transition(serverMachine, error, { type: 'reboot', hard: true });
    expect(rebooting.value).toBe('rebooting');
    expect(rebooting.context.fault).toBeNull();
    expect(actions.map((a) => a.type)).toContain('reboot');
  });

  it('pauses an ACTIVE server and unpauses it (as Nova: PAUSED, power state 3), a failure leaving it as it was', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [pausing, pauseActions] = transition(serverMachine, active, { type: 'pause' });
    expect(pauseActions.map((a) => a.type)).toEqual(['pause']);
    expect(serverStatusView('pausing', pausing.context)).toMatchObject({ status: 'ACTIVE', taskState: 'pausing' });
    expect(transition(serverMachine, pausing, { type: 'failed', message: 'x' })[0].value).toBe('active');
    const [paused] = transition(serverMachine, pausing, { type: 'paused' });
    expect(serverStatusView('paused', paused.context)).toEqual({
      ...{ status: 'PAUSED', vmState: 'paused', taskState: null, powerState: 3 },
    });
    // Nova refuses these on a paused server (409); a delete goes on.
    for (const event of [{ type: 'pause' }, { type: 'stop' }, { type: 'reboot', hard: false }] as const)
      expect(paused.can(event)).toBe(false);
    expect(paused.can({ type: 'delete' })).toBe(true);
    const [unpausing, unpauseActions] = transition(serverMachine, paused, { type: 'unpause' });
    expect(unpauseActions.map((a) => a.type)).toEqual(['unpause']);
    expect(serverStatusView('unpausing', unpausing.context)).toMatchObject({
      status: 'PAUSED',
      taskState: 'unpausing',
    });
    expect(transition(serverMachine, unpausing, { type: 'failed', message: 'x' })[0].value).toBe('paused');
    expect(transition(serverMachine, unpausing, { type: 'unpaused' })[0].value).toBe('active');
    // Its QEMU killed while paused is a crash; its node fenced, it boots again elsewhere, running.
    const [crashed] = transition(serverMachine, paused, { type: 'powerLost', crashed: true });
    expect(serverStatusView('shutoff', crashed.context).powerState).toBe(6);
    expect(transition(serverMachine, paused, { type: 'evacuated' })[0].value).toBe('active');
    expect(active.can({ type: 'unpause' })).toBe(false);
  });

  it('suspends an ACTIVE server and resumes it (as Nova: SUSPENDED), a failure leaving it as it was', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [suspending, suspendActions] = transition(serverMachine, active, { type: 'suspend' });
    expect(suspendActions.map((a) => a.type)).toEqual(['suspend']);
    expect(serverStatusView('suspending', suspending.context)).toMatchObject({
      status: 'ACTIVE',
      taskState: 'suspending',
    });
    expect(transition(serverMachine, suspending, { type: 'failed', message: 'x' })[0].value).toBe('active');
    const [suspended] = transition(serverMachine, suspending, { type: 'suspended' });
    expect(serverStatusView('suspended', suspended.context)).toEqual({
      ...{ status: 'SUSPENDED', vmState: 'suspended', taskState: null, powerState: 4 },
    });
    // No QEMU runs: nothing to lose, stop, pause or reboot; a delete goes on.
    for (const event of [
      { type: 'powerLost', crashed: true },
      { type: 'suspend' },
      { type: 'pause' },
      { type: 'stop' },
      { type: 'reboot', hard: false },
    ] as const)
      expect(suspended.can(event)).toBe(false);
    expect(suspended.can({ type: 'delete' })).toBe(true);
    const [resuming, resumeActions] = transition(serverMachine, suspended, { type: 'resume' });
    expect(resumeActions.map((a) => a.type)).toEqual(['resume']);
    expect(serverStatusView('resuming', resuming.context)).toMatchObject({
      status: 'SUSPENDED',
      taskState: 'resuming',
    });
    expect(transition(serverMachine, resuming, { type: 'failed', message: 'x' })[0].value).toBe('suspended');
    expect(transition(serverMachine, resuming, { type: 'resumed' })[0].value).toBe('active');
    const [paused] = transition(serverMachine, transition(serverMachine, active, { type: 'pause' })[0], {
      type: 'paused',
    });
    expect(paused.can({ type: 'suspend' })).toBe(false);
  });

  it('resizes and migrates an ACTIVE or SHUTOFF server to VERIFY_RESIZE, then confirms or reverts to where it was (as Nova)', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [shutoff] = transition(serverMachine, transition(serverMachine, active, { type: 'stop' })[0], {
      type: 'stopped',
    });
    for (const [from, stopped] of [
      [active, false],
      [shutoff, true],
    ] as const) {
      for (const type of ['resize', 'migrate'] as const) {
        const [resizing, actions] = transition(serverMachine, from, { type });
        expect(actions.map((a) => a.type)).toEqual(['resize']);
        expect(resizing.context).toMatchObject({ resizeStopped: stopped, migrating: type === 'migrate' });
        expect(serverStatusView('resizing', resizing.context)).toEqual({
          status: 'RESIZE',
          vmState: stopped ? 'stopped' : 'active',
          taskState: 'resize_migrating',
          powerState: stopped ? 4 : 1,
        });
        // Its QEMU stops on purpose: the host's report of it is no loss.
        expect(resizing.can({ type: 'powerLost', crashed: false })).toBe(false);
        const failed = transition(serverMachine, resizing, { type: 'failed', message: 'no valid host' })[0];
        expect(failed.value).toBe(stopped ? 'shutoff' : 'active');
        expect(failed.context.fault).toEqual({ message: 'no valid host' });
        const [resized] = transition(serverMachine, resizing, { type: 'resizeFinished' });
        expect(serverStatusView('resized', resized.context)).toEqual({
          ...{ status: 'VERIFY_RESIZE', vmState: 'resized', taskState: null, powerState: stopped ? 4 : 1 },
        });
        for (const event of [{ type: 'stop' }, { type: 'resize' }, { type: 'createImage' }, { type: 'pause' }] as const)
          expect(resized.can(event)).toBe(false);
        expect(resized.can({ type: 'delete' })).toBe(true);
        const [confirming, confirmActions] = transition(serverMachine, resized, { type: 'confirmResize' });
        expect(confirmActions.map((a) => a.type)).toEqual(['confirmResize']);
        expect(transition(serverMachine, confirming, { type: 'resizeConfirmed' })[0].value).toBe(
          stopped ? 'shutoff' : 'active',
        );
        const [reverting, revertActions] = transition(serverMachine, resized, { type: 'revertResize' });
        expect(revertActions.map((a) => a.type)).toEqual(['revertResize']);
        expect(serverStatusView('revertingResize', reverting.context)).toMatchObject({
          ...{ status: 'REVERT_RESIZE', taskState: 'resize_reverting' },
        });
        expect(transition(serverMachine, reverting, { type: 'resizeReverted' })[0].value).toBe(
          stopped ? 'shutoff' : 'active',
        );
        expect(transition(serverMachine, reverting, { type: 'failed', message: 'x' })[0].value).toBe('error');
      }
    }
    const [paused] = transition(serverMachine, transition(serverMachine, active, { type: 'pause' })[0], {
      type: 'paused',
    });
    expect(paused.can({ type: 'resize' })).toBe(false);
    expect(active.can({ type: 'confirmResize' })).toBe(false);
  });

  it('snapshots a PAUSED or SUSPENDED server (Nova allows it) and brings it back to where it was, done or failed', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [paused] = transition(serverMachine, transition(serverMachine, active, { type: 'pause' })[0], {
      type: 'paused',
    });
    const [suspended] = transition(serverMachine, transition(serverMachine, active, { type: 'suspend' })[0], {
      type: 'suspended',
    });
    for (const [from, status] of [
      [paused, 'PAUSED'],
      [suspended, 'SUSPENDED'],
    ] as const) {
      const [uploading] = transition(serverMachine, from, { type: 'createImage' });
      expect(serverStatusView('snapshotting', uploading.context)).toMatchObject({
        status,
        taskState: 'image_uploading',
      });
      expect(transition(serverMachine, uploading, { type: 'imageCreated' })[0].value).toBe(from.value);
      expect(transition(serverMachine, uploading, { type: 'failed', message: 'x' })[0].value).toBe(from.value);
    }
    // The next snapshot of an ACTIVE server goes back to ACTIVE, whatever the last one was of.
    const [again] = transition(serverMachine, transition(serverMachine, paused, { type: 'unpause' })[0], {
      type: 'unpaused',
    });
    const [uploading] = transition(serverMachine, again, { type: 'createImage' });
    expect(transition(serverMachine, uploading, { type: 'imageCreated' })[0].value).toBe('active');
    const [fromSuspended] = transition(serverMachine, suspended, { type: 'createImage' });
    expect(fromSuspended.can({ type: 'powerLost', crashed: true })).toBe(false);
  });

  it('shelves an ACTIVE, SHUTOFF, PAUSED or SUSPENDED server (shown as it was, task shelving) to SHELVED_OFFLOADED, and unshelves it to ACTIVE', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const to = (from: typeof active, ...events: ServerEvent[]) =>
      events.reduce((s, e) => transition(serverMachine, s, e)[0], from);
    const froms = [
      [active, 'ACTIVE'],
      [to(active, { type: 'stop' }, { type: 'stopped' }), 'SHUTOFF'],
      [to(active, { type: 'pause' }, { type: 'paused' }), 'PAUSED'],
      [to(active, { type: 'suspend' }, { type: 'suspended' }), 'SUSPENDED'],
    ] as const;
    for (const [from, status] of froms) {
      const [shelving, effects] = transition(serverMachine, from, { type: 'shelve', imageId: 'img-1' });
      expect(effects.map((a) => a.type)).toContain('shelve');
      expect(shelving.context).toMatchObject({ shelveOf: from.value, shelvedImage: 'img-1' });
      expect(serverStatusView('shelving', shelving.context)).toMatchObject({ status, taskState: 'shelving' });
      expect(shelving.can({ type: 'start' })).toBe(false);
      const offloaded = to(shelving, { type: 'shelved' });
      expect(serverStatusView('shelvedOffloaded', offloaded.context)).toEqual({
        ...{ status: 'SHELVED_OFFLOADED', vmState: 'shelved_offloaded', taskState: null, powerState: 0 },
      });
      for (const refused of [{ type: 'start' }, { type: 'shelve', imageId: 'img-2' }, { type: 'resize' }] as const)
        expect(offloaded.can(refused)).toBe(false);
      // An unshelve that fails leaves it offloaded (its image kept), the fault shown; a second one boots it.
      const failed = to(offloaded, { type: 'unshelve', availabilityZone: 'zone-b' }, { type: 'failed', message: 'x' });
      expect(failed.value).toBe('shelvedOffloaded');
      expect(failed.context).toMatchObject({ fault: { message: 'x' }, shelvedImage: 'img-1', unshelveZone: 'zone-b' });
      const [unshelving, unshelveEffects] = transition(serverMachine, failed, { type: 'unshelve' });
      expect(unshelveEffects.map((a) => a.type)).toContain('unshelve');
      expect(unshelving.context.unshelveZone).toBeUndefined();
      const back = to(unshelving, { type: 'unshelved' });
      expect(back.value).toBe('active');
      expect(back.context).toMatchObject({ fault: null, shelvedImage: undefined, shelveOf: undefined });
    }
    // A shelve that fails: ERROR (its guest may be stopped by then), its image forgotten.
    const broken = to(active, { type: 'shelve', imageId: 'img-1' }, { type: 'failed', message: 'no room' });
    expect(broken.value).toBe('error');
    expect(broken.context.shelvedImage).toBeUndefined();
  });

  it('rebuilds an ACTIVE server to ACTIVE and a SHUTOFF one to SHUTOFF (as Nova), and leaves ERROR by a rebuild', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [rebuilding, actions] = transition(serverMachine, active, { type: 'rebuild' });
    expect(actions.map((a) => a.type)).toContain('rebuild');
    expect(serverStatusView('rebuilding', rebuilding.context).status).toBe('REBUILD');
    expect(transition(serverMachine, rebuilding, { type: 'rebuilt' })[0].value).toBe('active');
    const [stopping] = transition(serverMachine, active, { type: 'stop' });
    const [shutoff] = transition(serverMachine, stopping, { type: 'stopped' });
    const [again] = transition(serverMachine, shutoff, { type: 'rebuild' });
    expect(transition(serverMachine, again, { type: 'rebuilt' })[0].value).toBe('shutoff');
    const [error] = transition(serverMachine, start, { type: 'failed', message: 'no host' });
    const [fromError] = transition(serverMachine, error, { type: 'rebuild' });
    expect(fromError.context.fault).toBeNull();
    expect(transition(serverMachine, fromError, { type: 'rebuilt' })[0].value).toBe('active');
    expect(transition(serverMachine, rebuilding, { type: 'failed', message: 'x' })[0].value).toBe('error');
  });

  it('runs again when its node was fenced and it was restarted elsewhere: from ERROR (any fault) and from a crash', () => {
    const [start] = initialTransition(serverMachine);
    const [failedSpawn] = transition(serverMachine, start, { type: 'failed', message: 'host unreachable' });
    const [back] = transition(serverMachine, failedSpawn, { type: 'evacuated' });
    expect(back.value).toBe('active');
    expect(back.context.fault).toBeNull();
    // Still building when its host was fenced, its spawn's driver gone with it: ERROR, then on.
    const [orphaned] = transition(serverMachine, start, { type: 'hostLost', message: 'fenced while building' });
    expect(orphaned.value).toBe('error');
    expect(orphaned.context.fault).toEqual({ message: 'fenced while building' });
    expect(transition(serverMachine, orphaned, { type: 'evacuated' })[0].value).toBe('active');
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [lost] = transition(serverMachine, active, { type: 'hostLost', message: 'no host can take it' });
    expect(lost.value).toBe('error');
    expect(lost.context.fault).toEqual({ message: 'no host can take it' });
    const [crashed] = transition(serverMachine, active, { type: 'powerLost', crashed: true });
    expect(transition(serverMachine, crashed, { type: 'evacuated' })[0].value).toBe('active');
    const [stopped] = transition(serverMachine, active, { type: 'powerLost', crashed: false });
    expect(stopped.can({ type: 'evacuated' })).toBe(false); // powered off from inside: stays off
  });

  it('shows image_uploading while a createImage copies the disk, takes no other action then, and goes back to where it was', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const [uploading, none] = transition(serverMachine, active, { type: 'createImage' });
    expect(none).toEqual([]); // the API copies the disk: no effect here
    expect(serverStatusView('snapshotting', uploading.context)).toEqual({
      ...{ status: 'ACTIVE', vmState: 'active', taskState: 'image_uploading', powerState: 1 },
    });
    for (const refused of [
      { type: 'stop' },
      { type: 'reboot', hard: true },
      { type: 'rebuild' },
      { type: 'createImage' },
    ])
      expect(uploading.can(refused as ServerEvent)).toBe(false);
    expect(transition(serverMachine, uploading, { type: 'imageCreated' })[0].value).toBe('active');
    expect(transition(serverMachine, uploading, { type: 'delete' })[0].value).toBe('deleting');
    const [off] = transition(serverMachine, active, { type: 'powerLost', crashed: false });
    const [offUploading] = transition(serverMachine, off, { type: 'createImage' });
    expect(serverStatusView('snapshotting', offUploading.context)).toMatchObject({ status: 'SHUTOFF', powerState: 4 });
    const [failed] = transition(serverMachine, offUploading, { type: 'failed', message: 'copy failed' });
    expect(failed.value).toBe('shutoff'); // a failed snapshot leaves the server as it was (Nova)
    expect(transition(serverMachine, offUploading, { type: 'imageCreated' })[0].value).toBe('shutoff');
  });

  it('restores a persisted snapshot and goes on from it', () => {
    const [start] = initialTransition(serverMachine);
    const [active] = transition(serverMachine, start, { type: 'spawned' });
    const stored = JSON.parse(JSON.stringify({ value: active.value, context: active.context })) as {
      value: ServerStateValue;
      context: typeof active.context;
    };
    const restored = serverMachine.resolveState(stored);
    const [stopping] = transition(serverMachine, restored, { type: 'stop' });
    expect(stopping.value).toBe('stopping');
  });
});
