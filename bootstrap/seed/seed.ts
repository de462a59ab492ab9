import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type Agent,
  commandService,
  ensureCephIdentity,
  keys,
  MachineHost,
  openRecord,
  parseJson,
  PrefixView,
  sealRecord,
  startAgent,
  type Store,
} from '../../agent/index.js';
import { NODE_MACHINE } from '../../statemachines/index.js';
import { IpmiPowerDriver } from '../ipmi/index.js';
import { interfaceAddress, type Netboot, startNetboot, type TimedNetbootEvent } from '../netboot/index.js';
import { ENROLL_KEYS, Enrollment } from './enrollment.js';
import { type EnrollmentGrant, type EnrollmentServer, startEnrollmentServer } from './enroll-http.js';
import { ensureIdentity, ensureServerCertificate } from './identity.js';
import type { CloudServices } from './node-boot.js';
import { type BmcCredential, type BmcCredentialStore, onboardBmcs, powerOnForNetboot } from './onboard.js';

/** The seed's configuration (`rackseed seed --config FILE`, YAML). */
export interface SeedConfig {
  /** The cluster's name. */
  cluster: string;
  /** This server's node name (default `seed`). */
  name?: string;
  dataDir: string;
  provisioning: { interface: string; subnet: string; range: string; httpPort?: number; enrollPort?: number };
  /** What nodes netboot: a directory with the kernel and the initrd (`make image`). */
  image: { dir: string; kernel: string; initrd: string; cmdline?: string };
  bmc: { cidr: string; port?: number; factory: BmcCredential[]; rescanSeconds?: number };
  enrollment?: { autoAccept?: boolean };
  leaseTtl?: number;
  /** The service catalog every node runs. */
  services?: EnrollmentGrant['services'];
  /** The seed and every node take part in Ceph (an OSD each, monitors on three of them) and run the cloud over it. */
  ceph?: boolean;
  /** The URL the cloud's API advertises (a VIP, or the lab gateway); default: each node's own address. */
  publicUrl?: string;
}

/** One line of the seed's progress. */
export interface SeedEvent {
  readonly time: string;
  readonly type: string;
  readonly node?: string;
  readonly detail?: string;
}

export interface Seed {
  readonly agent: Agent;
  readonly netboot: Netboot;
  readonly enrollServer: EnrollmentServer;
  stop(): Promise<void>;
}

const BMC_CREDENTIALS = (address: string) => `/rackseed/seed/bmc-credentials/${address}`;

/** BMC credentials sealed in etcd with the cluster key, keyed by BMC address. */
function sealedCredentials(store: Store, clusterKey: Buffer): BmcCredentialStore {
  type Stored = { current: BmcCredential; previous?: BmcCredential };
  const write = (address: string, value: Stored) =>
    store.put(BMC_CREDENTIALS(address), sealRecord(clusterKey, BMC_CREDENTIALS(address), value));
  return {
    known: async (address) => {
      const entry = await store.get(BMC_CREDENTIALS(address));
      if (!entry) return [];
      const stored = openRecord<Stored>(clusterKey, BMC_CREDENTIALS(address), entry.value);
      return stored.previous ? [stored.current, stored.previous] : [stored.current];
    },
    record: (address, next, previous) => write(address, previous ? { current: next, previous } : { current: next }),
    confirm: (address, credential) => write(address, { current: credential }),
  };
}

/**
 * Runs the seed: the cluster's identity, the seed's own agent (which starts etcd's first
 * member), the netboot services and the enrollment endpoint on the provisioning network, and
 * the BMC network scan, rescanned every `rescanSeconds`: every BMC found is taken charge of
 * (GUID, FRU, a fresh password sealed in etcd) and its server powered on to netboot. Each
 * node's progress goes to `onEvent` as its node machine moves.
 */
export async function runSeed(
  config: SeedConfig,
  onEvent: (event: SeedEvent) => void,
  cloud?: CloudServices,
): Promise<Seed> {
  const emit = (type: string, node?: string, detail?: string) =>
    onEvent({ time: new Date().toISOString(), type, ...(node ? { node } : {}), ...(detail ? { detail } : {}) });
  const dataDir = resolve(config.dataDir);
  const name = config.name ?? 'seed';
  const prov = config.provisioning;
  const httpPort = prov.httpPort ?? 8080;
  const enrollPort = prov.enrollPort ?? 8443;
  const leaseTtl = config.leaseTtl ?? 3;
  const services = config.services ?? [];
  const identity = await ensureIdentity(join(dataDir, 'cluster'), config.cluster);
  const seedIp = interfaceAddress(prov.interface, prov.subnet);
  emit('seed.identity', name, `cluster ${identity.name} ${identity.id}, CA ${identity.caFingerprint}`);

  const agent = await startAgent(
    {
      name,
      etcd: [`http://${seedIp}:2379`],
      dataDir: join(dataDir, 'agent'),
      clusterKey: identity.clusterKey,
      etcdHost: seedIp,
      etcdBootstrap: true,
      ...(config.ceph ? { cephHost: seedIp } : {}),
      leaseTtl,
      log: (message) => emit('seed.agent', name, message),
    },
    [
      ...services.map((s) => commandService(s.name, s.placement, s.command)),
      ...(config.ceph && cloud
        ? await cloud({
            adminPasswordFile: join(identity.dir, 'admin-password'),
            ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
          })
        : []),
    ],
    new IpmiPowerDriver(),
  );
  const store = agent.store;
  emit('seed.etcd', name, `etcd at http://${seedIp}:2379`);
  // Ceph's identity under the seed's fsid, sealed in etcd; the Ceph keeper of the nodes builds on it.
  await ensureCephIdentity(store, identity.clusterKey, identity.cephFsid);

  const credentials = sealedCredentials(store, identity.clusterKey);
  const nodes = new MachineHost(store, NODE_MACHINE, {
    powerOn: (async (params: { name: string }) => {
      const inventory = await store.get(keys.bmc(params.name));
      if (!inventory) throw new Error(`no BMC recorded for ${params.name}`);
      const bmc = openRecord<{ host: string; port: number; user: string; password: string }>(
        identity.clusterKey,
        keys.bmc(params.name),
        inventory.value,
      );
      await powerOnForNetboot(bmc.host, bmc.port, { user: bmc.user, password: bmc.password });
      emit('node.power.on', params.name, `PXE next, powered on through ${bmc.host}`);
    }) as never,
  });

  const enrollment = new Enrollment(store, { autoAccept: config.enrollment?.autoAccept ?? true });
  const filesDir = join(dataDir, 'netboot', 'files');
  mkdirSync(filesDir, { recursive: true });
  for (const file of [config.image.kernel, config.image.initrd]) {
    if (!existsSync(join(filesDir, file))) symlinkSync(resolve(config.image.dir, file), join(filesDir, file));
  }
  writeFileSync(join(filesDir, 'ca.crt'), identity.caCertPem);
  const cmdline = [
    config.image.cmdline ?? 'console=ttyS0',
    `rackseed.enroll=https://${seedIp}:${enrollPort}`,
    `rackseed.ca=${identity.caFingerprint}`,
    `rackseed.ca-url=http://${seedIp}:${httpPort}/files/ca.crt`,
  ].join(' ');
  const netboot = await startNetboot({
    interface: prov.interface,
    subnet: prov.subnet,
    range: prov.range,
    tftpRoot: '/usr/lib/ipxe',
    filesDir,
    httpPort,
    kernel: config.image.kernel,
    initrd: config.image.initrd,
    cmdline,
    leasesFile: join(dataDir, 'netboot', 'leases.json'),
    token: (mac) => enrollment.issueToken(mac),
    onEvent: (e: TimedNetbootEvent) => emit(e.type, e.mac || undefined, [e.ip, e.detail].filter(Boolean).join(' ')),
  });
  emit('seed.netboot', name, `DHCP, TFTP and HTTP boot on ${prov.interface} for ${prov.subnet}`);

  const enrollServer = await startEnrollmentServer({
    host: seedIp,
    port: enrollPort,
    tls: await ensureServerCertificate(identity, seedIp),
    enrollment,
    grant: async (node) => {
      const key = keys.nodeMachine(node);
      await nodes.create(key, { name: node });
      await nodes.apply(key, { type: 'node.netboot.started' }, { eventId: `netboot:${node}` }).catch(() => undefined);
      const endpoints = await store.get(keys.etcdEndpoints);
      return {
        name: node,
        cluster: { id: identity.id, name: identity.name },
        etcd: endpoints ? parseJson<{ clientUrls: string[] }>(endpoints).clientUrls : [`http://${seedIp}:2379`],
        clusterKey: identity.clusterKey.toString('base64'),
        leaseTtl,
        adminPassword: identity.adminPassword,
        services,
        ceph: config.ceph ?? false,
        ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      };
    },
    onEvent: (e) => emit(e.type, undefined, `${e.mac} ${e.detail}`),
  });

  // Progress: every transition of every node machine.
  const seen = new Map<string, string>();
  const progress = await PrefixView.open(store, keys.nodeMachines, (_key, _previous, current) => {
    if (!current) return;
    const envelope = parseJson<{ snapshot: { value: unknown; context: { name: string } } }>(current);
    const state = JSON.stringify(envelope.snapshot.value).replace(/"/g, '');
    const node = envelope.snapshot.context.name;
    if (seen.get(node) !== state) emit('node.state', node, `${seen.get(node) ?? '(new)'} → ${state}`);
    seen.set(node, state);
  });

  const scan = async () => {
    const servers = await onboardBmcs(
      {
        cidr: config.bmc.cidr,
        port: config.bmc.port ?? 623,
        factory: config.bmc.factory,
        credentials,
        scanTimeoutMs: 1_000,
      },
      (e) => emit(e.type, 'name' in e ? e.name : undefined, e.address),
    );
    for (const { inventory, credential } of servers) {
      await store.put(ENROLL_KEYS.inventory(inventory.guid), JSON.stringify(inventory));
      const record = {
        host: inventory.bmc.host,
        port: inventory.bmc.port,
        user: credential.user,
        password: credential.password,
      };
      await store.put(keys.bmc(inventory.name), sealRecord(identity.clusterKey, keys.bmc(inventory.name), record));
      const key = keys.nodeMachine(inventory.name);
      if (await nodes.create(key, { name: inventory.name })) {
        await nodes.apply(key, { type: 'bmc.power.on' }, { eventId: `seed-power-on:${inventory.name}` });
      }
    }
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    try {
      await scan();
    } catch (error) {
      emit('seed.scan.failed', undefined, error instanceof Error ? error.message : String(error));
    }
    if (!stopped) timer = setTimeout(() => void loop(), (config.bmc.rescanSeconds ?? 30) * 1000);
  };
  await loop();

  return {
    agent,
    netboot,
    enrollServer,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await progress.close();
      await enrollServer.close();
      await netboot.close();
      await agent.stop();
    },
  };
}
