import { describe, expect, it } from 'vitest';
import { type NodeFacts, nodeTile, powerOf } from '../../appliance/api/dashboard/tiles.js';

const facts = (over: Partial<NodeFacts> = {}): NodeFacts => ({
  phase: 'ready',
  registered: true,
  fenced: null,
  lastError: null,
  services: { api: 'running', db: 'candidate' },
  etcd: 'voter',
  ceph: null,
  ...over,
});

describe('dashboard tiles: power and why, from what the cluster knows', () => {
  it('takes power from the node machine phase, never from a BMC', () => {
    expect(
      ['discovered', 'powering-on', 'netbooting', 'joining', 'ready', 'draining', 'failed', 'fenced', 'odd'].map(
        powerOf,
      ),
    ).toEqual(['off', 'on', 'on', 'on', 'on', 'on', 'unknown', 'off', 'unknown']);
  });

  it('calls a registered ready node with nothing under way ready, with no reason', () => {
    expect(nodeTile(facts())).toEqual({ power: 'on', ready: true, why: null });
  });

  it('says why a node on its way up is not ready yet', () => {
    expect(nodeTile(facts({ phase: 'discovered' })).why).toMatch(/powered off: the provisioner powers it on/);
    expect(nodeTile(facts({ phase: 'powering-on' })).why).toMatch(/waiting for DHCP/);
    expect(nodeTile(facts({ phase: 'netbooting' })).why).toMatch(/enrolling/);
    const joining = nodeTile(facts({ phase: 'joining', etcd: 'joining' }));
    expect(joining).toMatchObject({ power: 'on', ready: false });
    expect(joining.why).toBe(
      'Its agent registered, joining the cluster; joining etcd (a learner catching up before it votes).',
    );
  });

  it('names what a ready node is still doing: etcd, its OSD, its monitor, its services', () => {
    const tile = nodeTile(
      facts({
        etcd: 'learner',
        ceph: { osd: false, monitor: 'starting' },
        services: { host: 'backoff', api: 'starting', db: 'running' },
      }),
    );
    expect(tile.ready).toBe(false);
    expect(tile.why).toBe(
      'Joining etcd (a learner catching up before it votes); creating its Ceph OSD; starting its Ceph monitor (not in the quorum yet); starting services: api (starting), host (restarting after a failure).',
    );
    expect(nodeTile(facts({ ceph: { osd: true, monitor: 'in-quorum' } })).ready).toBe(true);
  });

  it('tells a failed node from a fenced one, and a fence that failed', () => {
    expect(nodeTile(facts({ phase: 'failed' }))).toMatchObject({ power: 'unknown', ready: false });
    expect(nodeTile(facts({ phase: 'failed' })).why).toMatch(/the fencer is powering it off/);
    expect(nodeTile(facts({ phase: 'failed', lastError: 'FENCE_ERR_BMC: no answer' })).why).toMatch(
      /fencing failed: FENCE_ERR_BMC: no answer.*rackseed node fence/,
    );
    const fenced = nodeTile(
      facts({ phase: 'fenced', fenced: { method: 'bmc', at: '2026-12-06T07:00:00Z', by: 'n2' } }),
    );
    expect(fenced).toMatchObject({ power: 'off', ready: false });
    expect(fenced.why).toMatch(/^Fenced: powered off through its BMC by n2/);
    const byOperator = facts({ phase: 'fenced', fenced: { method: 'operator', at: '', by: 'operator' } });
    expect(nodeTile(byOperator).why).toBe(
      'Fenced: confirmed off by an operator. Its singletons may move to other nodes.',
    );
  });

  it('does not call a ready node whose agent stopped answering ready', () => {
    expect(nodeTile(facts({ registered: false }))).toEqual({
      power: 'on',
      ready: false,
      why: 'Its agent stopped answering: waiting for its lease to expire before it is fenced.',
    });
  });
});
