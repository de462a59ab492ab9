import { commandService, type RunningService, type ServiceContext } from './supervisor.js';

const RESTART_MAX_MS = 10_000;

/**
 * A daemon the agent keeps running beside its services (this node's etcd member, its Ceph
 * monitor and OSD): a {@link commandService} process, pid recorded under the data dir, that
 * is restarted when it exits on its own — after 1 s, 2 s, 4 s… up to 10 s, and again from
 * 1 s once it had stayed up 10 s — unless `onExit` says it is done (etcd whose member was
 * removed). `argv` is asked again at each start, so a restart may start it differently (etcd
 * resumes on the data its first start made).
 */
export class KeptProcess {
  private process: RunningService | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wanted = false;

  constructor(
    private readonly name: string,
    private readonly argv: () => readonly string[],
    private readonly context: ServiceContext,
    private readonly graceMs = 2_000,
    /** Told why it exited on its own (`exit code N`, `killed by SIG…`): restart it, or leave it stopped. */
    private readonly onExit: (reason: string) => 'restart' | 'done' = () => 'restart',
  ) {}

  /** It was started and not stopped (it may be between a crash and its restart). */
  get active(): boolean {
    return this.wanted;
  }

  /** Its process is alive now. */
  get running(): boolean {
    return this.process !== undefined;
  }

  start(attempt = 0): void {
    this.wanted = true;
    const startedAt = Date.now();
    const running = commandService(this.name, 'everywhere', this.argv(), { graceMs: this.graceMs }).start(this.context);
    this.process = running;
    void running.exited.then((reason) => {
      if (this.process !== running || !this.wanted) return;
      this.process = undefined;
      if (this.onExit(reason) === 'done') {
        this.wanted = false;
        return;
      }
      const next = Date.now() - startedAt > RESTART_MAX_MS ? 0 : attempt + 1;
      const delay = Math.min(RESTART_MAX_MS, 500 * 2 ** next);
      this.context.log(`${this.name} exited (${reason}); restarting in ${delay} ms`);
      this.timer = setTimeout(() => this.start(next), delay);
    });
  }

  /** Stops it (SIGTERM, SIGKILL after the grace time) and resolves once it has exited. */
  async stop(): Promise<void> {
    this.wanted = false;
    clearTimeout(this.timer);
    const running = this.process;
    this.process = undefined;
    await running?.stop();
  }
}
