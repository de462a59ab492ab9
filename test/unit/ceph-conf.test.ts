import { describe, expect, it } from 'vitest';
import {
  CEPH_HARDENED,
  CephConfigError,
  cephPaths,
  checkCephConfig,
  newCephIdentity,
  renderCephConf,
} from '../../agent/index.js';
import { LAB_CEPH_CONFIG } from '../../bootstrap/index.js';

const identity = newCephIdentity();
const render = (extra?: Record<string, string>) =>
  renderCephConf({
    identity,
    node: 'h1',
    host: '10.0.0.10',
    monAddrs: ['v2:10.0.0.10:3300'],
    paths: cephPaths('/d/ceph'),
    ...(extra ? { extra } : {}),
  });

/** `[section]` → its `name = value` lines, names as Ceph reads them (spaces are underscores). */
function sections(conf: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  for (const line of conf.split('\n')) {
    const section = /^\[(\w+)\]$/.exec(line)?.[1];
    if (section) out.set(section, (current = new Map()));
    const option = /^([a-z][a-z0-9 _]*?) = (.*)$/.exec(line);
    if (option?.[1] && option[2] !== undefined) current.set(option[1].replace(/ /g, '_'), option[2]);
  }
  return out;
}

describe('ceph.conf hardened (issue #14)', () => {
  it('refuses insecure global id reclaim and runs msgr2 in secure mode for daemons, monitors and clients, in [global]', () => {
    const global = sections(render()).get('global');
    expect(CEPH_HARDENED).toEqual({
      auth_allow_insecure_global_id_reclaim: 'false',
      ms_cluster_mode: 'secure',
      ms_service_mode: 'secure',
      ms_client_mode: 'secure',
      ms_mon_cluster_mode: 'secure',
      ms_mon_service_mode: 'secure',
      ms_mon_client_mode: 'secure',
    });
    for (const [name, value] of Object.entries(CEPH_HARDENED)) expect(global?.get(name)).toBe(value);
    for (const auth of ['cluster', 'service', 'client']) expect(global?.get(`auth_${auth}_required`)).toBe('cephx');
  });

  it('has every client ask for a newer osdmap once an operation is 1 s late, not 10 s (a dead OSD is left at once)', () => {
    const client = sections(render()).get('client');
    expect(client?.get('objecter_timeout')).toBe('1');
    expect(client?.get('objecter_tick_interval')).toBe('0.5');
  });

  it('has the monitors elect a quorum without a dead one within 2.5 s, not 15 s (monitor commands wait for it)', () => {
    const mon = sections(render()).get('mon');
    const lease = Number(mon?.get('mon_lease'));
    const late =
      lease * Math.max(Number(mon?.get('mon_accept_timeout_factor')), Number(mon?.get('mon_lease_ack_timeout_factor')));
    expect(late + Number(mon?.get('mon_election_timeout'))).toBeLessThanOrEqual(2.5);
    // Nor does a client wait on a dead monitor's session: 2 s without a keepalive's answer, not 30 s.
    expect(sections(render()).get('global')?.get('mon_client_ping_timeout')).toBe('2');
  });

  it('mutes no health check and moves no threshold: no mon_warn_on_*, no mon_data_avail_*, pools cannot be deleted', () => {
    const names = [...sections(render()).values()].flatMap((s) => [...s.keys()]);
    expect(names.filter((n) => /^mon_warn_on|^mon_data_avail|mute|^mon_allow_pool_delete$/.test(n))).toEqual([]);
  });

  it("adds the lab's options at the end of [global], and only those", () => {
    const conf = render({ ...LAB_CEPH_CONFIG });
    const global = sections(conf).get('global');
    expect(global?.get('mon_data_avail_warn')).toBe('2');
    expect(global?.get('mon_data_avail_crit')).toBe('1');
    expect(conf).toContain(
      "rados osd op timeout = 30\n# Given to this node's agent (cephConfig):\nmon data avail warn = 2\nmon data avail crit = 1\n[client]\n",
    );
    expect(conf.replace(/# Given to this node's agent \(cephConfig\):\n(.+\n){2}/, '')).toBe(render());
  });

  it('refuses an option that would change what rackseed sets, turn the global id warnings off, or break the file', () => {
    const refused: Record<string, string>[] = [
      { auth_allow_insecure_global_id_reclaim: 'true' },
      { 'ms cluster mode': 'crc' },
      { 'MS-CLIENT-MODE': 'crc secure' },
      { keyring: '/tmp/other' },
      { mon_lease: '5' },
      { mon_warn_on_insecure_global_id_reclaim_allowed: 'false' },
      { mon_warn_on_insecure_global_id_reclaim: 'false' },
      { 'mon data avail warn': '2', mon_data_avail_warn: '3' },
      { '[osd]': 'x' },
      { mon_data_avail_warn: '2\n[osd]\nosd data = /x' },
      { mon_data_avail_warn: '' },
      { mon_data_avail_warn: 2 as unknown as string },
    ];
    for (const extra of refused) {
      expect(() => checkCephConfig(extra), JSON.stringify(extra)).toThrow(CephConfigError);
      expect(() => render(extra)).toThrow(expect.objectContaining({ code: 'CEPH_ERR_CONFIG' }));
    }
    expect(() => checkCephConfig(LAB_CEPH_CONFIG)).not.toThrow();
  });
});
