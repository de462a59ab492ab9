import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  apiHosts,
  NODE_CERT_DAYS,
  isRackseedError,
  CertificateAuthority,
  EventLog,
  keys,
  MachineHost,
  openRecord,
  parseJson,
  type RunningService,
  sealRecord,
  type ServiceContext,
  type ServiceSpec,
  type Store,
} from '../../agent/index.js';
import { NODE_MACHINE } from '../../statemachines/index.js';
import {
  interfaceAddress,
  interfaceOnSubnet,
  type Netboot,
  startNetboot,
  type TimedNetbootEvent,
} from '../netboot/index.js';
import { ENROLL_KEYS, Enrollment } from './enrollment.js';
import { type EnrollmentServer, startEnrollmentServer } from './enroll-http.js';
import { CertificateKeeper, recordCertificate } from './certificate-keeper.js';
import { type BmcCredential, type BmcCredentialStore, onboardBmcs, powerOnForNetboot } from './onboard.js';
import {
  EtcdLeaseStore,
  hasImage,
  IPXE_DIR,
  ProvisioningError,
  type ProvisioningRecord,
  readProvisioning,
} from './provisioning.js';

/**
 * The provisioner: the singleton that brings servers in. Its holder serves netboot (DHCP, TFTP,
 * HTTP boot) and enrollment on the provisioning network, scans the BMC network every
 * `rescanSeconds`, takes charge of every BMC it finds (GUID, FRU, a fresh password sealed in
 * etcd) and powers its server on to netboot. All it works from is in etcd (provisioning.ts), so
 * when its node dies and is fenced it starts on another candidate with the same leases, tokens
 * and records. The seed holds it first; a node is a candidate when it keeps a copy of the image
 * and can serve netboot (provisioning.ts, `canServeNetboot`).
 */

export const PROVISIONER = 'provisioner';

/** One line of the provisioner's progress (the seed prints these; other nodes log them). */
export interface ProvisionerEvent {
  readonly type: string;
  readonly node?: string;
  readonly detail?: string;
}

export interface ProvisionerOptions {
  readonly clusterKey: Buffer;
  /** Where this node keeps the image's files (the seed: links to its configuration's image). */
  readonly filesDir: string;
  /** Where this node keeps the holder's TLS key and certificate (0700). */
  readonly pkiDir: string;
  /** The provisioning interface (default: the one with an address on the record's subnet). */
  readonly interface?: string;
  readonly onEvent: (event: ProvisionerEvent) => void;
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

/** The provisioner as a singleton of the agent's catalog. */
export function provisionerService(options: ProvisionerOptions): ServiceSpec {
  return {
    name: PROVISIONER,
    placement: 'singleton',
    start: (context) => {
      let stopping = false;
      let ended: (reason: string) => void = () => {};
      const exited = new Promise<string>((resolve) => (ended = resolve));
      const { store } = context;
      if (!store) throw new Error('the provisioner runs in an agent, which gives it its etcd client');
      const started = startProvisioner(store, context, options, () => stopping).catch((error: unknown) => {
        ended(`could not start: ${isRackseedError(error) ? `${error.code} ${error.message}` : String(error)}`);
        return undefined;
      });
      return {
        exited,
        stop: async () => {
          stopping = true;
          await (await started)?.stop();
        },
      } satisfies RunningService;
    },
  };
}

/** The provisioner's events that go to the cluster's event log too (the rest are its own log's and metrics'). */
const LOGGED_EVENTS = new Set([
  'enroll.granted',
  'enroll.held',
  'enroll.refused',
  'pki.revoked',
  'pki.failed',
  'provisioner.server.removed',
  'provisioner.scan.failed',
]);

interface Provisioner {
  stop(): Promise<void>;
}

/** Waits for the provisioning record (the seed writes it right after its agent starts). */
async function awaitRecord(store: Store, clusterKey: Buffer, stopping: () => boolean): Promise<ProvisioningRecord> {
  for (;;) {
    const record = await readProvisioning(store, clusterKey);
    if (record) return record;
    if (stopping()) throw new Error('stopped before the provisioning record was written');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function startProvisioner(
  store: Store,
  context: ServiceContext,
  options: ProvisionerOptions,
  stopping: () => boolean,
): Promise<Provisioner> {
  const events = new EventLog(store, context.node, (message) => emit('provisioner.event.failed', undefined, message));
  const emit = (type: string, node?: string, detail?: string) => {
    context.metrics?.provisionerEvent(type);
    options.onEvent({ type, ...(node ? { node } : {}), ...(detail ? { detail } : {}) });
    if (LOGGED_EVENTS.has(type)) events.record({ type, ...(node ? { node } : {}), detail: detail ?? '' });
  };
  const record = await awaitRecord(store, options.clusterKey, stopping);
  const { network, image } = record;
  const iface = options.interface ?? interfaceOnSubnet(network.subnet);
  const ip = interfaceAddress(iface, network.subnet);
  if (!(await hasImage(options.filesDir, image))) {
    throw new ProvisioningError(
      'PROVISION_ERR_IMAGE',
      `${options.filesDir} does not hold the image (${image.kernel}, ${image.initrd}) with the recorded sha256`,
    );
  }
  writeFileSync(join(options.filesDir, 'ca.crt'), record.ca.certPem);
  const ca = CertificateAuthority.install(options.pkiDir, record.ca, options.clusterKey);
  const tls = await ca.issueServer(ip);
  const certificates = new CertificateKeeper(store, ca, (e) =>
    emit(e.type, 'node' in e ? e.node : undefined, e.detail),
  );

  const nodes = new MachineHost(
    store,
    NODE_MACHINE,
    {
      powerOn: (async (params: { name: string }) => {
        const inventory = await store.get(keys.bmc(params.name));
        if (!inventory) throw new Error(`no BMC recorded for ${params.name}`);
        const bmc = openRecord<{ host: string; port: number; user: string; password: string }>(
          options.clusterKey,
          keys.bmc(params.name),
          inventory.value,
        );
        await powerOnForNetboot(bmc.host, bmc.port, { user: bmc.user, password: bmc.password });
        emit('node.power.on', params.name, `PXE next, powered on through ${bmc.host}`);
      }) as never,
    },
    context.node,
  );
  // Power-ons its predecessor had not finished (in the background: a BMC may be slow to answer).
  void nodes
    .resume(keys.nodeMachines)
    .catch((error: unknown) => emit('provisioner.resume.failed', undefined, String(error)));

  const enrollment = new Enrollment(store, { autoAccept: record.autoAccept });
  const cmdline = [
    image.cmdline,
    `rackseed.enroll=https://${ip}:${network.enrollPort}`,
    `rackseed.ca=${record.ca.fingerprint}`,
    `rackseed.ca-url=http://${ip}:${network.httpPort}/files/ca.crt`,
  ].join(' ');
  let netboot: Netboot | undefined;
  let enrollServer: EnrollmentServer | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> = Promise.resolve();
  const stop = async () => {
    stopped = true;
    clearTimeout(timer);
    await Promise.all([netboot?.close(), enrollServer?.close(), certificates.stop()]);
    await scanning;
  };
  try {
    await certificates.start();
    netboot = await startNetboot({
      interface: iface,
      subnet: network.subnet,
      range: network.range,
      tftpRoot: IPXE_DIR,
      filesDir: options.filesDir,
      httpPort: network.httpPort,
      kernel: image.kernel,
      initrd: image.initrd,
      cmdline,
      leases: new EtcdLeaseStore(store),
      token: (mac, client) => enrollment.issueToken(mac, client.guid),
      onEvent: (e: TimedNetbootEvent) => emit(e.type, e.mac || undefined, [e.ip, e.detail].filter(Boolean).join(' ')),
    });
    enrollServer = await startEnrollmentServer({
      host: ip,
      port: network.enrollPort,
      tls,
      enrollment,
      grant: async (node, request) => {
        const crl = await store.get(keys.pkiCrl); // published by the keeper before enrollment opens
        if (!crl) throw new ProvisioningError('PROVISION_ERR_PKI', 'no revocation list is published yet; try again');
        const certificate = await ca.issueNode({
          name: node,
          addresses: [request.address],
          publicKey: request.publicKey,
        });
        await recordCertificate(store, node, certificate);
        const apiCertificate = await ca.issueApi({
          hosts: apiHosts(record.grant.publicUrl, [request.address]),
          publicKey: request.publicKey,
          days: NODE_CERT_DAYS,
        });
        await recordCertificate(store, node, apiCertificate, 'api');
        const key = keys.nodeMachine(node);
        await store.delete(keys.removed(node)); // a removed server that boots again is a new server
        await nodes.create(key, { name: node });
        await nodes.apply(key, { type: 'node.netboot.started' }, { eventId: `netboot:${node}` }).catch(() => undefined);
        const endpoints = await store.get(keys.etcdEndpoints);
        return {
          name: node,
          ca: record.ca.certPem,
          certificate,
          crl: crl.value,
          apiCertificate,
          cluster: record.cluster,
          etcd: endpoints ? parseJson<{ clientUrls: string[] }>(endpoints).clientUrls : store.endpoints,
          clusterKey: options.clusterKey.toString('base64'),
          image: { kernel: image.kernel, initrd: image.initrd, sha256: image.sha256 },
          ...record.grant,
        };
      },
      onEvent: (e) => emit(e.type, undefined, `${e.mac} ${e.detail}`),
    });
  } catch (error) {
    await stop();
    throw error;
  }
  emit(
    'provisioner.ready',
    undefined,
    `DHCP, TFTP and HTTP boot on ${iface} for ${network.subnet}, enrollment at ${enrollServer.url}`,
  );

  const credentials = sealedCredentials(store, options.clusterKey);
  const leftAlone = new Set<string>(); // removed servers the scan found (told once)
  const scan = async () => {
    const servers = await onboardBmcs(
      {
        cidr: record.bmc.cidr,
        port: record.bmc.port,
        factory: record.bmc.factory,
        credentials,
        scanTimeoutMs: 1_000,
        names: new Map(record.seed.guid ? [[record.seed.guid, record.seed.name]] : []),
      },
      (e) => emit(e.type, 'name' in e ? e.name : undefined, e.address),
    );
    for (const found of servers) {
      if (stopped) return;
      const { credential, inventory } = found;
      // The seed's own BMC has the seed's name: it is recorded (for the fencer), and its server,
      // which runs already, keeps its node machine and is not powered on.
      await store.put(ENROLL_KEYS.inventory(inventory.guid), JSON.stringify(inventory));
      if (await store.get(keys.removed(inventory.name))) {
        if (!leftAlone.has(inventory.name)) {
          const detail = 'removed by the operator: its BMC is left alone until it enrolls again';
          emit('provisioner.server.removed', inventory.name, detail);
        }
        leftAlone.add(inventory.name);
        continue; // the operator removed it: not recorded for fencing, not powered on
      }
      leftAlone.delete(inventory.name);
      const bmc = {
        host: inventory.bmc.host,
        port: inventory.bmc.port,
        user: credential.user,
        password: credential.password,
      };
      await store.put(keys.bmc(inventory.name), sealRecord(options.clusterKey, keys.bmc(inventory.name), bmc));
      const key = keys.nodeMachine(inventory.name);
      if (await nodes.create(key, { name: inventory.name })) {
        await nodes.apply(key, { type: 'bmc.power.on' }, { eventId: `seed-power-on:${inventory.name}` });
      }
    }
  };
  const loop = () => {
    scanning = scan()
      .catch((error: unknown) =>
        emit('provisioner.scan.failed', undefined, error instanceof Error ? error.message : String(error)),
      )
      .then(() => {
        if (!stopped) timer = setTimeout(loop, record.bmc.rescanSeconds * 1000);
      });
  };
  loop();
  return { stop };
}
