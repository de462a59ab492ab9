import { fetch, type Response } from 'undici';
import type { NodeTls } from '../../agent/index.js';
import { HostCallError } from './errors.js';
import type {
  GuestDiagnostics,
  GuestRequest,
  GuestState,
  HostInventory,
  PortFirewall,
  PowerRequest,
  RouterRequest,
  RouterState,
} from './types.js';

/** How long a call may take: a spawn clones a disk and starts QEMU; a stop may wait for ACPI. */
const CALL_TIMEOUT_MS = 120_000;

/** The compute service's side of a host service's API (see hostApi), over mutual TLS with the node's certificate. */
export class HostClient {
  constructor(
    readonly url: string,
    private readonly tls: NodeTls,
    private readonly timeoutMs = CALL_TIMEOUT_MS,
    /** Ends every call at once when it aborts (its reason is the error): the caller saw the host go. */
    private readonly gone?: AbortSignal,
  ) {}

  inventory(): Promise<HostInventory> {
    return this.#call('GET', '/v1/inventory');
  }

  put(id: string, request: GuestRequest): Promise<GuestState> {
    return this.#call('PUT', `/v1/guests/${id}`, request);
  }

  get(id: string): Promise<GuestState> {
    return this.#call('GET', `/v1/guests/${id}`);
  }

  setPower(id: string, power: PowerRequest): Promise<GuestState> {
    return this.#call('PUT', `/v1/guests/${id}/power`, { power });
  }

  reboot(id: string, kind: 'soft' | 'hard'): Promise<GuestState> {
    return this.#call('POST', `/v1/guests/${id}/reboot`, { kind });
  }

  nmi(id: string): Promise<GuestState> {
    return this.#call('POST', `/v1/guests/${id}/nmi`);
  }

  consoleLog(id: string, bytes: number): Promise<string> {
    return this.#call('GET', `/v1/guests/${id}/console?bytes=${bytes}`);
  }

  diagnostics(id: string): Promise<GuestDiagnostics> {
    return this.#call('GET', `/v1/guests/${id}/diagnostics`);
  }

  /** Gives these ports of the guest these firewalls (`PUT /v1/guests/{id}/firewall`). */
  setFirewalls(id: string, ports: Readonly<Record<string, PortFirewall>>): Promise<GuestState> {
    return this.#call('PUT', `/v1/guests/${id}/firewall`, { ports });
  }

  async clearPassword(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/guests/${id}/password`);
  }

  async destroy(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/guests/${id}`);
  }

  /** Lets another host take the guest: stopped and unplugged here, its disk kept (`POST /v1/guests/{id}/release`). */
  async release(id: string): Promise<void> {
    await this.#call('POST', `/v1/guests/${id}/release`);
  }

  /** Takes a named snapshot of the stopped guest's root disk (unless it has one). */
  snapshotDisk(id: string, snapshot: string): Promise<GuestState> {
    return this.#call('PUT', `/v1/guests/${id}/disk/snapshots/${snapshot}`);
  }

  /** Takes the stopped guest's root disk back to the snapshot, which goes. */
  rollbackDisk(id: string, snapshot: string): Promise<GuestState> {
    return this.#call('POST', `/v1/guests/${id}/disk/snapshots/${snapshot}/rollback`);
  }

  removeDiskSnapshot(id: string, snapshot: string): Promise<GuestState> {
    return this.#call('DELETE', `/v1/guests/${id}/disk/snapshots/${snapshot}`);
  }

  /** Makes the router on this host as `request` says, its whole state (`PUT /v1/routers/{id}`). */
  putRouter(id: string, request: RouterRequest): Promise<RouterState> {
    return this.#call('PUT', `/v1/routers/${id}`, request);
  }

  /** The router's record on this host (HOST_ERR_ROUTER_NOT_FOUND if it is not homed here). */
  router(id: string): Promise<RouterState> {
    return this.#call('GET', `/v1/routers/${id}`);
  }

  /** Every router homed on this host. */
  async routers(): Promise<RouterState[]> {
    return (await this.#call<{ routers: RouterState[] }>('GET', '/v1/routers')).routers;
  }

  /** Removes the router from this host; nothing to do if it is not there. */
  async deleteRouter(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/routers/${id}`);
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        dispatcher: this.tls.dispatcher(),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: this.gone
          ? AbortSignal.any([this.gone, AbortSignal.timeout(this.timeoutMs)])
          : AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      if (this.gone?.aborted) throw this.gone.reason;
      throw new HostCallError(
        'HOST_ERR_UNREACHABLE',
        `the host service at ${this.url} did not answer ${method} ${path}`,
        {
          retryable: true,
          cause: error,
        },
      );
    }
    if (response.status === 204) return undefined as T;
    const type = response.headers.get('content-type') ?? '';
    const payload: unknown = type.includes('json') ? await response.json() : await response.text();
    if (!response.ok) {
      const error = (payload as { error?: { code?: string; message?: string; retryable?: boolean } }).error ?? {};
      throw new HostCallError(
        error.code ?? 'HOST_ERR_CALL',
        error.message ?? `${method} ${path}: HTTP ${response.status}`,
        {
          status: response.status,
          retryable: error.retryable ?? false,
        },
      );
    }
    return payload as T;
  }
}
