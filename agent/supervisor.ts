import type { AgentMetrics } from './metrics.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AnyMachineSnapshot, initialTransition, transition } from 'xstate';
import { childEnv, processStart } from './process/index.js';
import type { Store } from './store/store.js';
import type { NodeTls } from './tls.js';
import { type ServiceInstanceEvent, serviceInstanceMachine } from '../statemachines/index.js';

/** What a running service needs from its agent. */
export interface ServiceContext {
  readonly node: string;
  readonly dataDir: string;
  /** This node's own address (its etcd member's and its services'), if it has one. */
  readonly address?: string;
  /** The etcd client URLs the agent uses now. */
  readonly etcd?: () => readonly string[];
  /** The node's certificate (its directory is what a child process is given). */
  readonly tls?: NodeTls;
  /** The agent's own etcd client, for services that run in the agent's process (the agent gives it). */
  readonly store?: Store;
  /** The agent's metrics, for services that run in the agent's process (the provisioner counts its events). */
  readonly metrics?: AgentMetrics;
  readonly log: (message: string) => void;
}

/** A started service: it resolves `exited` (with a reason) when it ends on its own. */
export interface RunningService {
  readonly exited: Promise<string>;
  /** Stops it and resolves once it has stopped. */
  stop(): Promise<void>;
}

/** One entry of the service catalog the agent is given. */
export interface ServiceSpec {
  readonly name: string;
  readonly placement: 'everywhere' | 'singleton';
  /**
   * The etcd election by which the instances of an `everywhere` service choose their leader
   * themselves (the DB master's), if any: `rackseed status` names its leader among the singletons.
   */
  readonly election?: string;
  start(context: ServiceContext): RunningService;
}

/** How a service instance is doing on this node, as reported to etcd. */
export interface ServiceHealth {
  readonly state: string;
  readonly restarts: number;
  readonly lastExit: string | null;
}

/**
 * A service's whole environment: the few variables a child inherits ({@link childEnv}: PATH,
 * locale, HOME, TMPDIR…), what its spec sets, and its node: `RACKSEED_NODE`, `RACKSEED_SERVICE`,
 * `RACKSEED_DATA_DIR`, `RACKSEED_ADDRESS` (the node's own address, '' if none) and
 * `RACKSEED_ETCD` (the etcd client URLs the agent uses when the service starts,
 * comma-separated). Nothing else of the agent's environment: not the BMC password it may have
 * been given there, nor anything an operator exported before starting it.
 */
export function serviceEnv(
  name: string,
  context: ServiceContext,
  set: Readonly<Record<string, string>> = {},
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  return childEnv(
    {
      ...set,
      RACKSEED_NODE: context.node,
      RACKSEED_SERVICE: name,
      RACKSEED_DATA_DIR: context.dataDir,
      RACKSEED_ADDRESS: context.address ?? '',
      RACKSEED_ETCD: (context.etcd?.() ?? []).join(','),
    },
    from,
  );
}

/**
 * A service that runs a command, in the environment {@link serviceEnv} makes (its node's name,
 * data dir, address and etcd endpoints; nothing else of the agent's). Its pid is recorded under
 * the data dir, so that an agent restarted after a crash kills what its previous incarnation
 * left running ({@link killOrphans}) before it claims anything again. Stopping sends SIGTERM, then
 * SIGKILL after `graceMs`.
 */
export function commandService(
  name: string,
  placement: 'everywhere' | 'singleton',
  /** The command line, or a function that makes it from the context each time the service starts. */
  argv: readonly string[] | ((context: ServiceContext) => readonly string[]),
  options: { env?: Record<string, string>; graceMs?: number } = {},
): ServiceSpec {
  return {
    name,
    placement,
    start: (context) => {
      const dir = join(context.dataDir, 'services');
      mkdirSync(dir, { recursive: true });
      const log = openSync(join(dir, `${name}.log`), 'a');
      const [command, ...args] = (typeof argv === 'function' ? argv(context) : argv) as [string, ...string[]];
      const child: ChildProcess = spawn(command, args, {
        stdio: ['ignore', log, log],
        env: serviceEnv(name, context, options.env),
      });
      closeSync(log);
      const pidFile = join(dir, `${name}.pid`);
      const pid = child.pid;
      if (pid !== undefined) writeFileSync(pidFile, `${pid} ${processStart(pid) ?? ''}\n`);
      const exited = new Promise<string>((resolve) => {
        child.once('exit', (code, signal) => {
          rmSync(pidFile, { force: true });
          resolve(signal ? `killed by ${signal}` : `exit code ${code}`);
        });
        child.once('error', (error) => resolve(`could not start: ${error.message}`));
      });
      return {
        exited,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), options.graceMs ?? 500);
          await exited;
          clearTimeout(timer);
        },
      };
    },
  };
}

/** Kills services a previous incarnation of this agent left running (pid files under the data dir). */
export function killOrphans(dataDir: string): number {
  const dir = join(dataDir, 'services');
  let killed = 0;
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.pid'));
  } catch {
    return 0;
  }
  for (const file of files) {
    const [pid, start] = readFileSync(join(dir, file), 'utf8').trim().split(' ');
    if (pid && start && processStart(Number(pid)) === start) {
      try {
        process.kill(Number(pid), 'SIGKILL');
        killed++;
      } catch {
        /* gone meanwhile */
      }
    }
    rmSync(join(dir, file), { force: true });
  }
  return killed;
}

interface Instance {
  readonly spec: ServiceSpec;
  snapshot: AnyMachineSnapshot;
  running: RunningService | undefined;
  retry: NodeJS.Timeout | undefined;
  healthy: NodeJS.Timeout | undefined;
  waiters: (() => void)[];
}

/** What the supervisor tells the rest of the agent. */
export interface SupervisorHooks {
  /** A singleton gave up its claim (after its process stopped). */
  resign(service: string): void;
  /** A service instance changed state (for health reports and campaigning). */
  changed(service: string, health: ServiceHealth): void;
}

/** A process that stayed up this long resets its restart backoff. */
const HEALTHY_AFTER_MS = 10_000;

/**
 * Starts and stops this node's services. Each service instance is the pure
 * service-instance machine, stepped locally with `transition()`; its named effects (spawn,
 * kill, scheduleRetry, resign) are implemented here. Services placed everywhere start when
 * enabled; singletons become candidates and start once `elected`.
 */
export class Supervisor {
  private readonly instances = new Map<string, Instance>();

  constructor(
    specs: readonly ServiceSpec[],
    private readonly context: ServiceContext,
    private readonly hooks: SupervisorHooks,
  ) {
    for (const spec of specs) {
      const [snapshot] = initialTransition(serviceInstanceMachine, { service: spec.name, placement: spec.placement });
      this.instances.set(spec.name, {
        spec,
        snapshot,
        running: undefined,
        retry: undefined,
        healthy: undefined,
        waiters: [],
      });
    }
  }

  get specs(): ServiceSpec[] {
    return [...this.instances.values()].map((i) => i.spec);
  }

  state(service: string): string {
    const instance = this.instances.get(service);
    return instance ? String(instance.snapshot.value) : 'unknown';
  }

  health(service: string): ServiceHealth {
    const instance = this.instances.get(service);
    const context = instance?.snapshot.context as { restarts: number; lastExit: string | null } | undefined;
    return { state: this.state(service), restarts: context?.restarts ?? 0, lastExit: context?.lastExit ?? null };
  }

  /** Sends an event to one service instance and runs the effects of its transition. */
  send(service: string, event: ServiceInstanceEvent): void {
    const instance = this.instances.get(service);
    if (!instance) return;
    const before = instance.snapshot.value;
    const [next, actions] = transition(serviceInstanceMachine, instance.snapshot as never, event);
    instance.snapshot = next;
    for (const action of actions) this.effect(instance, action.type, action.params);
    if (next.value !== before) {
      this.hooks.changed(service, this.health(service));
      if (next.value === 'stopped' || next.value === 'candidate') {
        for (const resolve of instance.waiters.splice(0)) resolve();
      }
    }
  }

  private effect(instance: Instance, type: string, params: unknown): void {
    const name = instance.spec.name;
    switch (type) {
      case 'spawn': {
        let running: RunningService;
        try {
          running = instance.spec.start(this.context);
        } catch (error) {
          queueMicrotask(() => this.send(name, { type: 'service.exited', reason: String(error) }));
          return;
        }
        instance.running = running;
        void running.exited.then((reason) => {
          if (instance.running !== running) return;
          instance.running = undefined;
          clearTimeout(instance.healthy);
          this.context.log(`service ${name} exited: ${reason}`);
          this.send(name, { type: 'service.exited', reason });
        });
        instance.healthy = setTimeout(() => this.send(name, { type: 'service.healthy' }), HEALTHY_AFTER_MS);
        queueMicrotask(() => this.send(name, { type: 'service.started' }));
        return;
      }
      case 'kill': {
        const running = instance.running;
        instance.running = undefined;
        clearTimeout(instance.healthy);
        void (running?.stop() ?? Promise.resolve()).then(() => this.send(name, { type: 'service.stopped' }));
        return;
      }
      case 'scheduleRetry': {
        const { delayMs } = params as { delayMs: number };
        instance.retry = setTimeout(() => this.send(name, { type: 'service.retry' }), delayMs);
        return;
      }
      case 'resign':
        clearTimeout(instance.retry);
        if (instance.spec.placement === 'singleton') this.hooks.resign(name);
        return;
      default:
        return;
    }
  }

  /** Stops a service; resolves once it has stopped (or was not running). */
  disable(service: string): Promise<void> {
    const instance = this.instances.get(service);
    if (!instance) return Promise.resolve();
    const done = new Promise<void>((resolve) => instance.waiters.push(resolve));
    this.send(service, { type: 'service.disable' });
    const value = instance.snapshot.value;
    if (value === 'stopped') for (const resolve of instance.waiters.splice(0)) resolve();
    return done;
  }

  /** Stops every service placed as `placement` (or all). */
  async disableAll(placement?: 'everywhere' | 'singleton'): Promise<void> {
    await Promise.all(
      [...this.instances.values()]
        .filter((i) => placement === undefined || i.spec.placement === placement)
        .map((i) => this.disable(i.spec.name)),
    );
  }
}
