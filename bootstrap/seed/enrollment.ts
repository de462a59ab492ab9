import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { RackseedError } from '../../agent/errors/index.js';
import type { Store } from '../../agent/index.js';

/**
 * Enrollment: how a netbooted server becomes a node. When a server fetches its boot script
 * (from the address DHCP leased to its MAC: HTTP boot checks), the seed issues it a single-use
 * token bound to its MAC and to the SMBIOS GUID its DHCP request carried (only a hash is kept,
 * in etcd, so any node that takes over the netboot service can check it). The booted server
 * presents the token with its MAC and SMBIOS GUID within {@link TOKEN_TTL_MS}; a GUID the seed
 * found behind a BMC enrolls as that node, an unknown one ("unannounced": it PXE-booted on its
 * own) is accepted at once or held until an operator runs `rackseed node accept`, by
 * configuration (`rackseed seed --approve-nodes`). The token is consumed in the same etcd
 * transaction that grants the enrollment, so it works once.
 */

const ROOT = '/rackseed/enroll/';
export const ENROLL_KEYS = {
  token: (mac: string) => `${ROOT}tokens/${mac}`,
  held: (mac: string) => `${ROOT}held/${mac}`,
  accepted: (mac: string) => `${ROOT}accepted/${mac}`,
  inventory: (guid: string) => `/rackseed/inventory/${guid}`,
  inventoryPrefix: '/rackseed/inventory/',
  heldPrefix: `${ROOT}held/`,
};

/** What the seed learned of a server through its BMC. */
export interface InventoryRecord {
  readonly guid: string;
  readonly name: string;
  readonly bmc: { readonly host: string; readonly port: number };
  readonly fru: {
    readonly manufacturer: string;
    readonly product: string;
    readonly serial: string;
    readonly assetTag: string;
  };
  readonly discoveredAt: string;
}

/**
 * How long a token is good for, from the boot script's fetch to its use. A server fetches its
 * kernel and initrd, unpacks them and starts the agent in under a minute (README: ~50 s under
 * TCG from script to enrollment, up to twice that under load); 5 min leaves room for that twice
 * over and for a provisioner moving to another node meanwhile, and a token read off the
 * provisioning network (the script travels in plain HTTP) is good for a third of the 15 min it was.
 */
export const TOKEN_TTL_MS = 5 * 60_000;

/**
 * How long a held server's token stays good from its hold: nothing is granted before an
 * operator accepts it, who may take longer than {@link TOKEN_TTL_MS}; past this the server must
 * netboot again for a new token.
 */
export const HOLD_TTL_MS = 60 * 60_000;

interface TokenRecord {
  readonly hash: string;
  readonly expiresAt: number;
  /** The SMBIOS GUID of the DHCP request whose lease fetched the script; absent if it sent none. */
  readonly guid?: string;
  /** When its server was first held (its expiry then moved to the hold's). */
  readonly heldAt?: number;
}

interface HeldRecord {
  readonly mac: string;
  readonly guid: string;
  readonly since: string;
}

export class EnrollmentError extends RackseedError {
  constructor(
    code: 'ENROLL_ERR_BAD_TOKEN' | 'ENROLL_ERR_GUID_MISMATCH' | 'ENROLL_ERR_BAD_REQUEST' | 'ENROLL_ERR_NOT_HELD',
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

export type EnrollmentOutcome = { readonly state: 'granted'; readonly name: string } | { readonly state: 'held' };

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const GUID = /^[0-9a-f]{32}$/;
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** A node name from what the FRU says, safe for etcd keys, file names and host names. */
export function nodeName(fru: InventoryRecord['fru'], guid: string): string {
  const raw = (fru.assetTag || fru.serial || `node-${guid.slice(-8)}`).toLowerCase();
  const clean = raw.replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return clean === '' ? `node-${guid.slice(-8)}` : clean;
}

export class Enrollment {
  constructor(
    private readonly store: Store,
    private readonly options: { autoAccept: boolean; tokenTtlMs?: number; holdTtlMs?: number; now?: () => number },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /**
   * Issues a fresh token for `mac` (netboot's token provider), bound to `guid` when its DHCP
   * lease recorded one (32 hex digits); it replaces any earlier one.
   */
  async issueToken(mac: string, guid?: string): Promise<string> {
    const token = randomBytes(16).toString('hex');
    const record: TokenRecord = {
      hash: hashOf(token),
      expiresAt: this.now() + (this.options.tokenTtlMs ?? TOKEN_TTL_MS),
      ...(guid ? { guid: guid.toLowerCase() } : {}),
    };
    await this.store.put(ENROLL_KEYS.token(mac.toLowerCase()), JSON.stringify(record));
    return token;
  }

  /** Checks a booted server's token, MAC and GUID, and grants it a node name (or holds it). */
  async enroll(request: { token?: unknown; mac?: unknown; guid?: unknown }): Promise<EnrollmentOutcome> {
    const { token, mac, guid } = request;
    if (
      typeof token !== 'string' ||
      typeof mac !== 'string' ||
      typeof guid !== 'string' ||
      !MAC.test(mac) ||
      !GUID.test(guid)
    ) {
      throw new EnrollmentError('ENROLL_ERR_BAD_REQUEST', 'send {"token","mac":"aa:bb:…","guid":"<32 hex>"}', 400);
    }
    const entry = await this.store.get(ENROLL_KEYS.token(mac));
    const record = entry ? (JSON.parse(entry.value) as TokenRecord) : undefined;
    const presented = Buffer.from(hashOf(token), 'hex');
    if (
      !entry ||
      !record ||
      record.expiresAt < this.now() ||
      !timingSafeEqual(presented, Buffer.from(record.hash, 'hex'))
    ) {
      throw new EnrollmentError(
        'ENROLL_ERR_BAD_TOKEN',
        `the token for ${mac} is unknown, used or expired; the server must netboot again to get a new one`,
        403,
      );
    }
    // The GUID is what names a server found behind a BMC: a token goes with the one its DHCP
    // request carried. Refused without using the token up, as a wrong MAC is.
    if (record.guid !== undefined && record.guid !== guid) {
      throw new EnrollmentError(
        'ENROLL_ERR_GUID_MISMATCH',
        `the token for ${mac} was issued to a server that sent another SMBIOS GUID when it netbooted (DHCP option 97); this one must netboot for a token of its own`,
        403,
      );
    }
    const inventory = await this.store.get(ENROLL_KEYS.inventory(guid));
    let name: string;
    if (inventory) {
      name = (JSON.parse(inventory.value) as InventoryRecord).name;
    } else {
      const accepted = await this.store.get(ENROLL_KEYS.accepted(mac));
      if (!accepted && !this.options.autoAccept) {
        const held: HeldRecord = { mac, guid, since: new Date(this.now()).toISOString() };
        await this.store.txn(
          [{ key: ENROLL_KEYS.held(mac), target: 'create', value: 0 }],
          [{ put: ENROLL_KEYS.held(mac), value: JSON.stringify(held) }],
        );
        if (record.heldAt === undefined) {
          // Once: the token lives for the hold, not for its first minutes.
          const now = this.now();
          const kept: TokenRecord = {
            ...record,
            heldAt: now,
            expiresAt: Math.max(record.expiresAt, now + (this.options.holdTtlMs ?? HOLD_TTL_MS)),
          };
          await this.store.txn(
            [{ key: ENROLL_KEYS.token(mac), target: 'mod', value: entry.modRevision }],
            [{ put: ENROLL_KEYS.token(mac), value: JSON.stringify(kept) }],
          );
        }
        return { state: 'held' };
      }
      name = `node-${mac.replace(/:/g, '').slice(-6)}`;
    }
    // Single use: the grant and the consumption of the token are one transaction.
    const consumed = await this.store.txn(
      [{ key: ENROLL_KEYS.token(mac), target: 'mod', value: entry.modRevision }],
      [{ delete: ENROLL_KEYS.token(mac) }, { delete: ENROLL_KEYS.held(mac) }],
    );
    if (!consumed)
      throw new EnrollmentError('ENROLL_ERR_BAD_TOKEN', `the token for ${mac} was just used or replaced`, 403);
    return { state: 'granted', name };
  }

  /** Servers held for an operator's decision. */
  async held(): Promise<HeldRecord[]> {
    const { entries } = await this.store.list(ENROLL_KEYS.heldPrefix);
    return entries.map((e) => JSON.parse(e.value) as HeldRecord);
  }

  /** An operator accepts a held server (by MAC); its next enrollment attempt is granted. */
  async accept(mac: string): Promise<void> {
    const key = mac.toLowerCase();
    if (!(await this.store.get(ENROLL_KEYS.held(key)))) {
      throw new EnrollmentError(
        'ENROLL_ERR_NOT_HELD',
        `no server with MAC ${mac} is waiting (see rackseed node held)`,
        404,
      );
    }
    await this.store.put(ENROLL_KEYS.accepted(key), JSON.stringify({ at: new Date(this.now()).toISOString() }));
  }
}
