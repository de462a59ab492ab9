import { assign, setup } from 'xstate';

/**
 * The version of the server machine's persisted snapshot. Bump it whenever a state is renamed
 * or removed, and migrate stored snapshots.
 */
export const SERVER_MACHINE_VERSION = 1;

/** What a server's owner and its compute driver tell the machine. */
export type ServerEvent =
  | { type: 'spawned' }
  | { type: 'failed'; message: string }
  | { type: 'stop' }
  | { type: 'stopped' }
  | { type: 'start' }
  | { type: 'started' }
  | { type: 'reboot'; hard: boolean }
  | { type: 'rebooted' }
  /** The owner's pause: the guest's vCPUs stop, its memory stays where it is (Nova's PAUSED). */
  | { type: 'pause' }
  | { type: 'paused' }
  | { type: 'unpause' }
  | { type: 'unpaused' }
  /**
   * The owner's suspend: the guest's memory and device state are kept on Ceph and its QEMU ends
   * (Nova's SUSPENDED, libvirt's managed save); a resume runs it on from there.
   */
  | { type: 'suspend' }
  | { type: 'suspended' }
  | { type: 'resume' }
  | { type: 'resumed' }
  /**
   * Nova's resize (a new flavor) and cold migration (`migrate`: the same flavor, another host):
   * the API has recorded the migration; the guest stops, its disk is kept as it is now (the
   * point a revert goes back to) and it starts again with the migration's flavor on the host
   * the scheduler chose. It then waits for its owner's confirm or revert (VERIFY_RESIZE).
   */
  | { type: 'resize' }
  | { type: 'migrate' }
  | { type: 'resizeFinished' }
  /** The owner keeps the new flavor and host: the disk's way back is dropped. */
  | { type: 'confirmResize' }
  | { type: 'resizeConfirmed' }
  /** The owner goes back: the disk as it was before the resize, the old flavor, the old host. */
  | { type: 'revertResize' }
  | { type: 'resizeReverted' }
  /** A new root disk from the server's (possibly new) image; the API has recorded the image. */
  | { type: 'rebuild' }
  | { type: 'rebuilt' }
  | { type: 'delete' }
  | { type: 'deleted' }
  /** The host saw the guest end on its own: powered off from inside, or crashed (QEMU killed or died). */
  | { type: 'powerLost'; crashed: boolean }
  /** The server's host was fenced and no other host can take it (yet). */
  | { type: 'hostLost'; message: string }
  /** The server started on another host after its own was fenced. */
  | { type: 'evacuated' }
  /**
   * Nova's shelve, offloaded at once (its `shelved_offload_time` of 0): the guest stops, its
   * root disk is copied into the image the API recorded, and the guest and its disk go from
   * its host, which keeps nothing of it (SHELVED_OFFLOADED).
   */
  | { type: 'shelve'; imageId: string }
  | { type: 'shelved' }
  /**
   * The owner's unshelve: the scheduler places it again (in `availabilityZone`, from 2.77, if
   * given) and it boots from its shelved image, which then goes.
   */
  | { type: 'unshelve'; availabilityZone?: string }
  | { type: 'unshelved' }
  /** The owner's createImage: a copy of its root disk is being made into an image. */
  | { type: 'createImage' }
  /** That copy is made (a failed one is `failed`). */
  | { type: 'imageCreated' }
  /**
   * The cloud admin's `os-resetState`: the server is said to be ACTIVE or in ERROR, whatever it
   * was doing, and nothing is done to its guest (Nova's way out of a stuck state).
   */
  | { type: 'resetState'; state: 'active' | 'error' };

/**
 * The machine's context: the last fault (ERROR), the kind of the reboot in progress, and
 * whether a SHUTOFF server got there by crashing (Nova's power state CRASHED; absent in
 * snapshots written before it existed, which reads as false).
 */
export interface ServerContext {
  fault: { message: string } | null;
  hardReboot: boolean;
  crashed?: boolean;
  /** A rebuild of a SHUTOFF server leaves it SHUTOFF, as Nova's does. */
  rebuildStopped?: boolean;
  /** A createImage of a SHUTOFF server, which goes back to SHUTOFF. */
  snapshotStopped?: boolean;
  /** A createImage of a PAUSED or SUSPENDED server, which goes back to where it was. */
  snapshotOf?: 'paused' | 'suspended';
  /** A resize or migration of a SHUTOFF server, which stays off (Nova's). */
  resizeStopped?: boolean;
  /** The resize in progress is a cold migration (its instance action is `migrate`). */
  migrating?: boolean;
  /** A shelve's: where it was (a running guest is shut down first), and its image. */
  shelveOf?: 'active' | 'shutoff' | 'paused' | 'suspended';
  shelvedImage?: string;
  /** The zone an unshelve asked for (2.77). */
  unshelveZone?: string;
}

/** Every state of the server machine. */
export type ServerStateValue =
  | 'building'
  | 'active'
  | 'stopping'
  | 'shutoff'
  | 'starting'
  | 'rebooting'
  | 'pausing'
  | 'paused'
  | 'unpausing'
  | 'suspending'
  | 'suspended'
  | 'resuming'
  | 'rebuilding'
  | 'resizing'
  | 'resized'
  | 'confirmingResize'
  | 'revertingResize'
  | 'snapshotting'
  | 'shelving'
  | 'shelvedOffloaded'
  | 'unshelving'
  | 'error'
  | 'deleting'
  | 'deleted';

/**
 * The named effects the machine asks for on entering a state; the compute service runs
 * them through its driver and feeds the result back as an event (`spawned`, `stopped`, …).
 */
export type ServerEffect =
  | 'spawn'
  | 'powerOff'
  | 'powerOn'
  | 'reboot'
  | 'pause'
  | 'unpause'
  | 'suspend'
  | 'resume'
  | 'rebuild'
  | 'resize'
  | 'confirmResize'
  | 'revertResize'
  | 'shelve'
  | 'unshelve'
  | 'destroy';

/**
 * What a server takes while its QEMU runs and an effect on it is in flight: its QEMU ending
 * (killed, or its node's power lost) is a crash, its host's fence an ERROR, and a delete goes on.
 */
const WHILE_ITS_QEMU_RUNS = {
  powerLost: { target: 'shutoff', actions: 'recordPowerLost' },
  hostLost: { target: 'error', actions: 'recordFault' },
  delete: 'deleting',
} as const;

/** A resize confirmed or reverted: back to SHUTOFF if it was stopped, else ACTIVE. */
const RESIZE_DECIDED = [
  { target: 'shutoff', guard: 'resizeOfStopped', actions: 'resizeDone' },
  { target: 'active', actions: 'resizeDone' },
] as const;

/** What a server takes while its owner's confirm or revert of a resize is carried out: a failure is an ERROR. */
const WHILE_DECIDING = {
  failed: { target: 'error', actions: 'recordFault' },
  hostLost: { target: 'error', actions: 'recordFault' },
  delete: 'deleting',
} as const;

/** A shelve's record of where the server was, and of its image. */
function shelveFrom(of: NonNullable<ServerContext['shelveOf']>) {
  return assign<ServerContext, ServerEvent, undefined, ServerEvent, never>({
    shelveOf: of,
    shelvedImage: ({ event }) => (event.type === 'shelve' ? event.imageId : undefined),
  });
}

/**
 * A server's lifecycle: BUILD → ACTIVE ⇄ SHUTOFF, ACTIVE ⇄ PAUSED, ACTIVE ⇄ SUSPENDED, REBOOT,
 * REBUILD, RESIZE → VERIFY_RESIZE → ACTIVE (confirmed or reverted), a createImage in progress,
 * SHELVED_OFFLOADED (shelved, then unshelved), ERROR, DELETED. Pure: the entry
 * actions are named effects with no implementation; read them from xstate's `transition()`.
 */
export const serverMachine = setup({
  types: {
    context: {} as ServerContext,
    events: {} as ServerEvent,
  },
  actions: {
    spawn: () => {},
    powerOff: () => {},
    powerOn: () => {},
    reboot: () => {},
    pause: () => {},
    unpause: () => {},
    suspend: () => {},
    resume: () => {},
    rebuild: () => {},
    resize: () => {},
    confirmResize: () => {},
    revertResize: () => {},
    shelve: () => {},
    unshelve: () => {},
    destroy: () => {},
    recordFault: assign({
      fault: ({ event }) =>
        event.type === 'failed'
          ? { message: event.message }
          : event.type === 'hostLost'
            ? { message: event.message }
            : null,
    }),
    clearFault: assign({ fault: null }),
    recordReboot: assign({ hardReboot: ({ event }) => event.type === 'reboot' && event.hard }),
    recordPowerLost: assign({ crashed: ({ event }) => event.type === 'powerLost' && event.crashed }),
    clearCrash: assign({ crashed: false }),
    rebuildRunning: assign({ rebuildStopped: false }),
    rebuildStopped: assign({ rebuildStopped: true }),
    snapshotRunning: assign({ snapshotStopped: false, snapshotOf: undefined }),
    snapshotStopped: assign({ snapshotStopped: true, snapshotOf: undefined }),
    snapshotPaused: assign({ snapshotStopped: false, snapshotOf: 'paused' as const }),
    snapshotSuspended: assign({ snapshotStopped: false, snapshotOf: 'suspended' as const }),
    resizeRunning: assign({ resizeStopped: false, migrating: ({ event }) => event.type === 'migrate' }),
    resizeStopped: assign({ resizeStopped: true, migrating: ({ event }) => event.type === 'migrate' }),
    resizeDone: assign({ resizeStopped: undefined, migrating: undefined }),
    shelveActive: shelveFrom('active'),
    shelveShutoff: shelveFrom('shutoff'),
    shelvePaused: shelveFrom('paused'),
    shelveSuspended: shelveFrom('suspended'),
    recordUnshelve: assign({
      unshelveZone: ({ event }) => (event.type === 'unshelve' ? event.availabilityZone : undefined),
    }),
    shelveDone: assign({ shelveOf: undefined, shelvedImage: undefined, unshelveZone: undefined }),
  },
  guards: {
    snapshotOfStopped: ({ context }) => context.snapshotStopped === true,
    snapshotOfPaused: ({ context }) => context.snapshotOf === 'paused',
    snapshotOfSuspended: ({ context }) => context.snapshotOf === 'suspended',
    resizeOfStopped: ({ context }) => context.resizeStopped === true,
  },
}).createMachine({
  id: 'server',
  initial: 'building',
  context: { fault: null, hardReboot: false },
  on: {
    resetState: [
      { target: '.active', guard: ({ event }) => event.state === 'active', actions: 'clearFault' },
      { target: '.error' },
    ],
  },
  states: {
    building: {
      entry: 'spawn',
      on: {
        spawned: 'active',
        failed: { target: 'error', actions: 'recordFault' },
        // Its host was fenced and the process that drove the spawn is gone with it (see Evacuation).
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    active: {
      on: {
        powerLost: { target: 'shutoff', actions: 'recordPowerLost' },
        hostLost: { target: 'error', actions: 'recordFault' },
        stop: 'stopping',
        reboot: { target: 'rebooting', actions: 'recordReboot' },
        rebuild: { target: 'rebuilding', actions: 'rebuildRunning' },
        createImage: { target: 'snapshotting', actions: 'snapshotRunning' },
        resize: { target: 'resizing', actions: 'resizeRunning' },
        migrate: { target: 'resizing', actions: 'resizeRunning' },
        shelve: { target: 'shelving', actions: 'shelveActive' },
        pause: 'pausing',
        suspend: 'suspending',
        delete: 'deleting',
      },
    },
    // As Nova's pause and unpause: one that fails leaves the server as it was, the fault recorded.
    pausing: {
      entry: 'pause',
      on: {
        paused: 'paused',
        failed: { target: 'active', actions: 'recordFault' },
        ...WHILE_ITS_QEMU_RUNS,
      },
    },
    paused: {
      on: {
        unpause: 'unpausing',
        createImage: { target: 'snapshotting', actions: 'snapshotPaused' },
        shelve: { target: 'shelving', actions: 'shelvePaused' },
        powerLost: { target: 'shutoff', actions: 'recordPowerLost' },
        hostLost: { target: 'error', actions: 'recordFault' },
        // Its node was fenced: its memory went with the node, and it booted again elsewhere, running.
        evacuated: 'active',
        delete: 'deleting',
      },
    },
    unpausing: {
      entry: 'unpause',
      on: {
        unpaused: 'active',
        failed: { target: 'paused', actions: 'recordFault' },
        ...WHILE_ITS_QEMU_RUNS,
      },
    },
    // Suspend and resume, as pause and unpause; a suspended server has no QEMU to lose.
    suspending: {
      entry: 'suspend',
      on: {
        suspended: 'suspended',
        failed: { target: 'active', actions: 'recordFault' },
        ...WHILE_ITS_QEMU_RUNS,
      },
    },
    suspended: {
      on: {
        resume: 'resuming',
        createImage: { target: 'snapshotting', actions: 'snapshotSuspended' },
        shelve: { target: 'shelving', actions: 'shelveSuspended' },
        // Its node was fenced and no other could take its record (its state stays on Ceph).
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    resuming: {
      entry: 'resume',
      on: {
        resumed: 'active',
        failed: { target: 'suspended', actions: 'recordFault' },
        ...WHILE_ITS_QEMU_RUNS,
      },
    },
    // As Nova: a stop or a start that fails leaves the server as it was, with the fault recorded.
    stopping: {
      entry: 'powerOff',
      on: { stopped: 'shutoff', failed: { target: 'active', actions: 'recordFault' }, delete: 'deleting' },
    },
    shutoff: {
      on: {
        hostLost: { target: 'error', actions: 'recordFault' },
        // It "crashed" as its host died (the host saw QEMU end first): running again elsewhere.
        evacuated: { target: 'active', guard: ({ context }) => context.crashed === true, actions: 'clearCrash' },
        start: 'starting',
        reboot: { target: 'rebooting', guard: ({ event }) => event.hard, actions: 'recordReboot' },
        rebuild: { target: 'rebuilding', actions: 'rebuildStopped' },
        createImage: { target: 'snapshotting', actions: 'snapshotStopped' },
        resize: { target: 'resizing', actions: 'resizeStopped' },
        migrate: { target: 'resizing', actions: 'resizeStopped' },
        shelve: { target: 'shelving', actions: 'shelveShutoff' },
        delete: 'deleting',
      },
    },
    // Nova's resize and cold migration. One that fails leaves the server as it was (its old
    // flavor, host and disk), the fault recorded; its QEMU is stopped on purpose, so its end is
    // no loss. Its host fenced meanwhile: ERROR, as any effect in flight.
    resizing: {
      entry: 'resize',
      on: {
        resizeFinished: 'resized',
        failed: [
          { target: 'shutoff', guard: 'resizeOfStopped', actions: ['recordFault', 'resizeDone'] },
          { target: 'active', actions: ['recordFault', 'resizeDone'] },
        ],
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    // VERIFY_RESIZE: running (or off) with its new flavor on its new host, until its owner decides.
    resized: {
      on: {
        confirmResize: 'confirmingResize',
        revertResize: 'revertingResize',
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    confirmingResize: { entry: 'confirmResize', on: { resizeConfirmed: RESIZE_DECIDED, ...WHILE_DECIDING } },
    revertingResize: { entry: 'revertResize', on: { resizeReverted: RESIZE_DECIDED, ...WHILE_DECIDING } },
    // Nova's image_uploading: the root disk is copied into an image (by the API, not an effect
    // here); the server runs, stays off, paused or suspended, as it was, and goes back to it
    // either way.
    snapshotting: {
      on: {
        imageCreated: [
          { target: 'shutoff', guard: 'snapshotOfStopped' },
          { target: 'paused', guard: 'snapshotOfPaused' },
          { target: 'suspended', guard: 'snapshotOfSuspended' },
          { target: 'active' },
        ],
        failed: [
          { target: 'shutoff', guard: 'snapshotOfStopped', actions: 'recordFault' },
          { target: 'paused', guard: 'snapshotOfPaused', actions: 'recordFault' },
          { target: 'suspended', guard: 'snapshotOfSuspended', actions: 'recordFault' },
          { target: 'active', actions: 'recordFault' },
        ],
        // A suspended server has no QEMU to lose; a running or paused one's crash stops it.
        powerLost: {
          target: 'shutoff',
          guard: ({ context }) => context.snapshotOf !== 'suspended',
          actions: 'recordPowerLost',
        },
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    // Nova's shelve and unshelve. A shelve that fails leaves the server in ERROR (its guest may
    // be stopped by then; a hard reboot starts it again); an unshelve that fails leaves it
    // offloaded, the fault recorded, to be unshelved again.
    shelving: {
      entry: 'shelve',
      on: {
        shelved: { target: 'shelvedOffloaded', actions: 'clearCrash' },
        failed: { target: 'error', actions: ['recordFault', 'shelveDone'] },
        hostLost: { target: 'error', actions: ['recordFault', 'shelveDone'] },
        // No powerLost: its guest is stopped on purpose, and its end is no loss.
        delete: 'deleting',
      },
    },
    shelvedOffloaded: {
      on: { unshelve: { target: 'unshelving', actions: 'recordUnshelve' }, delete: 'deleting' },
    },
    unshelving: {
      entry: 'unshelve',
      on: {
        unshelved: { target: 'active', actions: ['shelveDone', 'clearFault'] },
        failed: { target: 'shelvedOffloaded', actions: 'recordFault' },
        // Its new host fenced as it booted there: another node took it (from the host's record
        // of it, its shelved image), or none could.
        evacuated: { target: 'active', actions: ['shelveDone', 'clearFault'] },
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    starting: {
      entry: ['clearCrash', 'powerOn'],
      on: { started: 'active', failed: { target: 'shutoff', actions: 'recordFault' }, delete: 'deleting' },
    },
    rebooting: {
      entry: ['clearCrash', 'reboot'],
      on: { rebooted: 'active', failed: { target: 'error', actions: 'recordFault' }, delete: 'deleting' },
    },
    rebuilding: {
      entry: ['clearCrash', 'rebuild'],
      on: {
        rebuilt: [{ target: 'shutoff', guard: ({ context }) => context.rebuildStopped === true }, { target: 'active' }],
        failed: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    error: {
      on: {
        delete: 'deleting',
        // Nova's way out of ERROR for the owner: a hard reboot (on the host the server has).
        reboot: { target: 'rebooting', guard: ({ event }) => event.hard, actions: ['recordReboot', 'clearFault'] },
        rebuild: { target: 'rebuilding', actions: ['rebuildRunning', 'clearFault'] },
        // Restarted on another node after its own was fenced (as Nova's evacuate of an ERROR server).
        evacuated: { target: 'active', actions: 'clearFault' },
      },
    },
    // A destroy that fails (its host unreachable) leaves the server in ERROR, to be deleted again.
    deleting: { entry: 'destroy', on: { deleted: 'deleted', failed: { target: 'error', actions: 'recordFault' } } },
    deleted: { type: 'final' },
  },
});

/** How a state looks through Nova's API: `status` and the `OS-EXT-STS:*` fields. */
export interface ServerStatusView {
  status: string;
  vmState: string;
  taskState: string | null;
  /** Nova's power_state: 0 no state, 1 running, 3 paused, 4 shutdown, 6 crashed, 7 suspended. */
  powerState: 0 | 1 | 3 | 4 | 6;
}

/** The Nova view of each state (nova/api/openstack/common.py `_STATE_MAP`). */
export function serverStatusView(state: ServerStateValue, context: ServerContext): ServerStatusView {
  switch (state) {
    case 'building':
      return { status: 'BUILD', vmState: 'building', taskState: 'spawning', powerState: 0 };
    case 'active':
      return { status: 'ACTIVE', vmState: 'active', taskState: null, powerState: 1 };
    case 'stopping':
      return { status: 'ACTIVE', vmState: 'active', taskState: 'powering-off', powerState: 1 };
    case 'shutoff':
      return { status: 'SHUTOFF', vmState: 'stopped', taskState: null, powerState: context.crashed ? 6 : 4 };
    case 'starting':
      return { status: 'SHUTOFF', vmState: 'stopped', taskState: 'powering-on', powerState: 4 };
    case 'rebooting':
      return context.hardReboot
        ? { status: 'HARD_REBOOT', vmState: 'active', taskState: 'rebooting_hard', powerState: 1 }
        : { status: 'REBOOT', vmState: 'active', taskState: 'rebooting', powerState: 1 };
    case 'pausing':
      return { status: 'ACTIVE', vmState: 'active', taskState: 'pausing', powerState: 1 };
    case 'paused':
      return { status: 'PAUSED', vmState: 'paused', taskState: null, powerState: 3 };
    case 'unpausing':
      return { status: 'PAUSED', vmState: 'paused', taskState: 'unpausing', powerState: 3 };
    case 'suspending':
      return { status: 'ACTIVE', vmState: 'active', taskState: 'suspending', powerState: 1 };
    // Its QEMU has ended: power state SHUTDOWN, as libvirt's managed-saved domain.
    case 'suspended':
      return { status: 'SUSPENDED', vmState: 'suspended', taskState: null, powerState: 4 };
    case 'resuming':
      return { status: 'SUSPENDED', vmState: 'suspended', taskState: 'resuming', powerState: 4 };
    case 'rebuilding':
      return { status: 'REBUILD', vmState: 'active', taskState: 'rebuild_spawning', powerState: 0 };
    // Nova's: RESIZE while it moves, VERIFY_RESIZE (vm_state resized) until the owner decides.
    case 'resizing':
      return context.resizeStopped
        ? { status: 'RESIZE', vmState: 'stopped', taskState: 'resize_migrating', powerState: 4 }
        : { status: 'RESIZE', vmState: 'active', taskState: 'resize_migrating', powerState: 1 };
    case 'resized':
    case 'confirmingResize':
      return {
        status: 'VERIFY_RESIZE',
        vmState: 'resized',
        taskState: null,
        powerState: context.resizeStopped ? 4 : 1,
      };
    case 'revertingResize':
      return {
        status: 'REVERT_RESIZE',
        vmState: 'resized',
        taskState: 'resize_reverting',
        powerState: context.resizeStopped ? 4 : 1,
      };
    case 'snapshotting':
      if (context.snapshotStopped)
        return {
          status: 'SHUTOFF',
          vmState: 'stopped',
          taskState: 'image_uploading',
          powerState: context.crashed ? 6 : 4,
        };
      if (context.snapshotOf) return { ...serverStatusView(context.snapshotOf, context), taskState: 'image_uploading' };
      return { status: 'ACTIVE', vmState: 'active', taskState: 'image_uploading', powerState: 1 };
    // Nova's: the state it was shelved from, task `shelving`; offloaded, its guest is nowhere.
    case 'shelving':
      return { ...serverStatusView(context.shelveOf ?? 'active', context), taskState: 'shelving' };
    case 'shelvedOffloaded':
      return { status: 'SHELVED_OFFLOADED', vmState: 'shelved_offloaded', taskState: null, powerState: 0 };
    case 'unshelving':
      return { status: 'SHELVED_OFFLOADED', vmState: 'shelved_offloaded', taskState: 'unshelving', powerState: 0 };
    case 'error':
      return { status: 'ERROR', vmState: 'error', taskState: null, powerState: 0 };
    case 'deleting':
      return { status: 'ACTIVE', vmState: 'active', taskState: 'deleting', powerState: 1 };
    case 'deleted':
      return { status: 'DELETED', vmState: 'deleted', taskState: null, powerState: 0 };
  }
}
