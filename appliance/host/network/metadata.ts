/**
 * The metadata service's answers for one guest, pure: the OpenStack tree (`/openstack/…`) and
 * the EC2 tree (`/latest/meta-data/…`) as Nova serves them (nova/api/metadata/base.py). The
 * caller has already identified the guest by the port its request came from.
 */

/** What a guest is told about itself (sent by the compute service with its spawn request). */
export interface GuestMetadata {
  readonly uuid: string;
  readonly name: string;
  readonly hostname: string;
  readonly availabilityZone: string;
  readonly projectId: string;
  readonly launchIndex: number;
  readonly publicKeys: readonly { readonly name: string; readonly data: string }[];
  /** Base64, as Nova keeps it; null when the server has none. */
  readonly userData: string | null;
  readonly meta: Readonly<Record<string, string>>;
}

/** A tagged device of the guest, as Nova's metadata lists it (`meta_data.json` `devices`). */
export type DeviceMetadata =
  | {
      readonly type: 'nic';
      readonly bus: 'pci';
      readonly address: string;
      readonly mac: string;
      readonly tags: string[];
    }
  | {
      readonly type: 'disk';
      readonly bus: 'pci';
      readonly address: string;
      readonly serial: string;
      readonly path: string;
      readonly tags: string[];
    };

/** A port of the guest, for network_data.json and the EC2 addresses. */
export interface GuestPortView {
  readonly portId: string;
  readonly mac: string;
  readonly ip: string;
  readonly prefixLength: number;
  readonly gateway: string | null;
  readonly mtu: number;
  readonly networkId: string;
  readonly dns: readonly string[];
}

export interface MetadataAnswer {
  readonly status: number;
  readonly type: 'application/json' | 'text/plain';
  readonly body: string;
}

/** The versions Nova lists under /openstack (its OpenStack metadata versions). */
const OPENSTACK_VERSIONS = [
  '2012-08-10',
  '2013-04-04',
  '2013-10-17',
  '2015-10-15',
  '2016-06-30',
  '2016-10-06',
  '2017-02-22',
  '2018-08-27',
  'latest',
];
/** Where the password went in (nova/api/metadata/password.py): 256 bytes at most, posted once. */
const PASSWORD_MAX = 256;

const text = (body: string, status = 200): MetadataAnswer => ({ status, type: 'text/plain', body });
const json = (value: unknown): MetadataAnswer => ({
  status: 200,
  type: 'application/json',
  body: JSON.stringify(value),
});
const notFound = (): MetadataAnswer => text('Not Found', 404);
const maskOf = (prefix: number) =>
  [24, 16, 8, 0].map((s) => ((prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0) >>> s) & 255).join('.');

function metaData(m: GuestMetadata, devices: readonly DeviceMetadata[]): Record<string, unknown> {
  return {
    uuid: m.uuid,
    meta: m.meta,
    hostname: m.hostname,
    name: m.name,
    launch_index: m.launchIndex,
    availability_zone: m.availabilityZone,
    project_id: m.projectId,
    random_seed: '',
    devices,
    ...(m.publicKeys.length > 0
      ? {
          public_keys: Object.fromEntries(m.publicKeys.map((k) => [k.name, k.data])),
          keys: m.publicKeys.map((k) => ({ name: k.name, type: 'ssh', data: k.data })),
        }
      : {}),
  };
}

/** Every port of the guest, in its NICs' order, as Nova's network_data.json lists its VIFs. */
function networkData(ports: readonly GuestPortView[]): Record<string, unknown> {
  const dns = [...new Set(ports.flatMap((p) => p.dns))].map((address) => ({ type: 'dns', address }));
  return {
    links: ports.map((p) => ({
      id: `tap${p.portId.slice(0, 11)}`,
      vif_id: p.portId,
      type: 'bridge',
      mtu: p.mtu,
      ethernet_mac_address: p.mac,
    })),
    networks: ports.map((p, i) => ({
      id: `network${i}`,
      type: 'ipv4',
      link: `tap${p.portId.slice(0, 11)}`,
      ip_address: p.ip,
      netmask: maskOf(p.prefixLength),
      routes: p.gateway ? [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: p.gateway }] : [],
      network_id: p.networkId,
      services: p.dns.map((address) => ({ type: 'dns', address })),
    })),
    services: dns,
  };
}

/**
 * The answer to `method path` from the guest `m` with `ports` (its NICs' ports, in order: the
 * first is its EC2 `local-ipv4`), whose tagged devices are `devices`. `password` is what the guest posted before ('' if nothing); a POST to the password
 * path returns `posted` for the caller to keep.
 */
export function metadataAnswer(
  method: string,
  path: string,
  body: string,
  m: GuestMetadata,
  ports: readonly GuestPortView[],
  password: string,
  devices: readonly DeviceMetadata[] = [],
): MetadataAnswer & { posted?: string } {
  const clean = path.split('?')[0]?.replace(/\/+$/, '') ?? '';
  const [root, version, ...rest] = clean.split('/').filter(Boolean);
  if (root === 'openstack') {
    if (!version) return text(OPENSTACK_VERSIONS.join('\n'));
    if (!OPENSTACK_VERSIONS.includes(version)) return notFound();
    const leaf = rest.join('/');
    if (leaf === 'password') {
      if (method === 'POST') {
        if (password !== '') return text('Conflict', 409);
        if (body.length > PASSWORD_MAX) return text('Request is too large.', 400);
        return { ...text(''), posted: body };
      }
      return text(password);
    }
    if (method !== 'GET') return text('Method Not Allowed', 405);
    switch (leaf) {
      case '':
        return text(
          [
            'meta_data.json',
            'password',
            'vendor_data.json',
            'network_data.json',
            'vendor_data2.json',
            ...(m.userData ? ['user_data'] : []),
          ].join('\n'),
        );
      case 'meta_data.json':
        return json(metaData(m, devices));
      case 'network_data.json':
        return json(networkData(ports));
      case 'vendor_data.json':
      case 'vendor_data2.json':
        return json({});
      case 'user_data':
        return m.userData ? text(Buffer.from(m.userData, 'base64').toString('utf8')) : notFound();
      default:
        return notFound();
    }
  }
  if (method !== 'GET') return text('Method Not Allowed', 405);
  if (root === undefined) return text(['1.0', 'latest'].join('\n'));
  if (root !== 'latest' && root !== '1.0' && !/^\d{4}-\d{2}-\d{2}$/.test(root)) return notFound();
  if (version === undefined) return text('meta-data/\nuser-data');
  if (version === 'user-data')
    return m.userData ? text(Buffer.from(m.userData, 'base64').toString('utf8')) : notFound();
  if (version !== 'meta-data') return notFound();
  const ec2: Record<string, string> = {
    'ami-id': 'ami-00000001',
    'ami-launch-index': String(m.launchIndex),
    hostname: m.hostname,
    'instance-id': m.uuid,
    'instance-type': '',
    'local-hostname': m.hostname,
    'local-ipv4': ports[0]?.ip ?? '',
    'public-hostname': m.hostname,
    'public-ipv4': '',
    'placement/availability-zone': m.availabilityZone,
    ...Object.fromEntries(m.publicKeys.flatMap((k, i) => [[`public-keys/${i}/openssh-key`, k.data]])),
  };
  const leaf = rest.join('/');
  if (leaf === '') {
    const top = [...new Set(Object.keys(ec2).map((k) => (k.includes('/') ? `${k.split('/')[0]}/` : k)))];
    return text(top.join('\n'));
  }
  if (leaf === 'public-keys') return text(m.publicKeys.map((k, i) => `${i}=${k.name}`).join('\n'));
  if (/^public-keys\/\d+$/.test(leaf))
    return ec2[`${leaf}/openssh-key`] !== undefined ? text('openssh-key') : notFound();
  if (leaf === 'placement') return text('availability-zone');
  const value = ec2[leaf];
  return value === undefined ? notFound() : text(value);
}
