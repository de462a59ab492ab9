import { randomBytes } from 'node:crypto';
import { RackseedError } from '../../agent/errors/index.js';
import { IpmiClient, IpmiError, scanBmcs } from '../ipmi/index.js';
import { type InventoryRecord, nodeName } from './enrollment.js';

/** A user name and password to try on a BMC (factory defaults, or what the seed set before). */
export interface BmcCredential {
  readonly user: string;
  readonly password: string;
}

/** How the seed keeps BMC credentials (encrypted, in the cluster); see the seed's composition. */
export interface BmcCredentialStore {
  /** Credentials recorded for this BMC before (the current one first), to try before factory ones. */
  known(address: string): Promise<BmcCredential[]>;
  /** Records `next` as this BMC's credential; `previous` stays valid until `next` is confirmed. */
  record(address: string, next: BmcCredential, previous: BmcCredential | undefined): Promise<void>;
  /** `credential` is confirmed on the BMC: forget any previous one. */
  confirm(address: string, credential: BmcCredential): Promise<void>;
}

/** A BMC the seed took charge of. */
export interface OnboardedServer {
  readonly inventory: InventoryRecord;
  readonly credential: BmcCredential;
}

export type OnboardEvent =
  | { type: 'bmc.found'; address: string }
  | { type: 'bmc.login.failed'; address: string; code: string }
  | { type: 'bmc.onboarded'; address: string; name: string; guid: string }
  | { type: 'bmc.password.rotated'; address: string; name: string };

export class OnboardError extends RackseedError {
  constructor(address: string, cause: unknown) {
    super(
      'SEED_ERR_BMC_LOGIN',
      `no known credential opens the BMC at ${address}; add its factory password to the seed's configuration`,
      {
        cause,
        retryable: true,
      },
    );
  }
}

/** A password BMCs accept: 16 characters (the IPMI 1.5-era limit many BMCs keep), letters and digits. */
export function newBmcPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return [...randomBytes(16)].map((b) => alphabet[b % alphabet.length]).join('');
}

const connect = (address: string, port: number, credential: BmcCredential) =>
  IpmiClient.connect({
    host: address,
    port,
    userName: credential.user,
    password: credential.password,
    timeoutMs: 3_000,
  });

async function login(
  address: string,
  port: number,
  credentials: readonly BmcCredential[],
): Promise<{ client: IpmiClient; credential: BmcCredential }> {
  let last: unknown;
  for (const credential of credentials) {
    try {
      const client = await connect(address, port, credential);
      return { client, credential };
    } catch (error) {
      last = error;
      if (!(error instanceof IpmiError)) throw error;
    }
  }
  throw new OnboardError(address, last);
}

/**
 * Takes charge of one BMC: logs in (known credentials first, then the factory ones), reads its
 * GUID and FRU, and replaces the password of the user it logged in as with a random one, as
 * MAAS does. The new password is recorded before it is set (so a crash in between locks
 * nobody out: both are tried next time) and confirmed once a fresh session opens with it.
 * The server is named from its FRU, unless `names` knows its GUID already (the seed's own).
 */
export async function onboardBmc(
  address: string,
  port: number,
  factory: readonly BmcCredential[],
  credentials: BmcCredentialStore,
  onEvent: (event: OnboardEvent) => void = () => {},
  names: ReadonlyMap<string, string> = new Map(),
): Promise<OnboardedServer> {
  const { client, credential } = await login(address, port, [...(await credentials.known(address)), ...factory]);
  let inventory: InventoryRecord;
  let current = credential;
  try {
    const guid = await client.systemGuid();
    const fru = await client.fru();
    const product = {
      manufacturer: fru.product?.manufacturer ?? '',
      product: fru.product?.name ?? '',
      serial: fru.product?.serial ?? '',
      assetTag: fru.product?.assetTag ?? '',
    };
    inventory = {
      guid,
      name: names.get(guid) ?? nodeName(product, guid),
      bmc: { host: address, port },
      fru: product,
      discoveredAt: new Date().toISOString(),
    };
    const known = await credentials.known(address);
    if (known[0]?.password !== credential.password || known.length > 1) {
      const userId = await client.userId(credential.user);
      if (userId === undefined) throw new OnboardError(address, new Error(`user ${credential.user} not found`));
      const next = { user: credential.user, password: newBmcPassword() };
      await credentials.record(address, next, credential);
      await client.setUserPassword(userId, next.password);
      current = next;
      onEvent({ type: 'bmc.password.rotated', address, name: inventory.name });
    }
  } finally {
    await client.close();
  }
  // Prove the credential on a fresh session before forgetting the old one.
  const check = await connect(address, port, current);
  await check.close();
  await credentials.confirm(address, current);
  onEvent({ type: 'bmc.onboarded', address, name: inventory.name, guid: inventory.guid });
  return { inventory, credential: current };
}

/** Scans `cidr` for BMCs and onboards each one found; a BMC that cannot be opened is reported and skipped. */
export async function onboardBmcs(
  options: {
    cidr: string;
    port?: number;
    factory: readonly BmcCredential[];
    credentials: BmcCredentialStore;
    scanTimeoutMs?: number;
    /** Names of servers known by GUID (the seed's own server), instead of the FRU's. */
    names?: ReadonlyMap<string, string>;
  },
  onEvent: (event: OnboardEvent) => void = () => {},
): Promise<OnboardedServer[]> {
  const port = options.port ?? 623;
  const found = await scanBmcs({ cidr: options.cidr, port, timeoutMs: options.scanTimeoutMs ?? 1_000 });
  const servers: OnboardedServer[] = [];
  for (const bmc of found) {
    onEvent({ type: 'bmc.found', address: bmc.address });
    try {
      servers.push(await onboardBmc(bmc.address, port, options.factory, options.credentials, onEvent, options.names));
    } catch (error) {
      onEvent({
        type: 'bmc.login.failed',
        address: bmc.address,
        code: error instanceof RackseedError ? error.code : 'SEED_ERR_INTERNAL',
      });
    }
  }
  return servers;
}

/** Sets the next boot to PXE (read back) and powers the server on. */
export async function powerOnForNetboot(address: string, port: number, credential: BmcCredential): Promise<void> {
  const client = await connect(address, port, credential);
  try {
    await client.setBootDevice('pxe');
    await client.chassisControl('on');
  } finally {
    await client.close();
  }
}
