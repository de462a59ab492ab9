/**
 * A node's tile in plain words: its power as the cluster knows it and, when it is not ready,
 * why. Pure: the facts come from etcd (rack.ts reads them), the words from here, so that every
 * phase and sub-state is tested without a cluster.
 */
import type { EtcdRole, Power } from './web/wire.js';

/** What the cluster knows of one node, as read from etcd. */
export interface NodeFacts {
  /** Its node machine's state. */
  readonly phase: string;
  /** Its agent is registered under a live lease. */
  readonly registered: boolean;
  readonly fenced: { readonly method: string; readonly at: string; readonly by: string } | null;
  /** The node machine's last error (a failed fence's code and message). */
  readonly lastError: string | null;
  readonly services: Readonly<Record<string, string>>;
  /** Its etcd role, or `joining` while it was told to start a member that is not a voter yet. */
  readonly etcd: EtcdRole | 'joining';
  /** It takes part in Ceph: whether its OSD exists yet, whether it was given a monitor and it is in the quorum. */
  readonly ceph: { readonly osd: boolean; readonly monitor: 'none' | 'in-quorum' | 'starting' } | null;
}

/** A tile's power, readiness and reason. */
export interface NodeTile {
  readonly power: Power;
  readonly ready: boolean;
  readonly why: string | null;
}

/**
 * Power from the node machine's phase, not from IPMI: the API never talks to BMCs (the fencer
 * and the provisioner do), so it shows what the cluster did. powering-on … ready and draining
 * were powered on (or registered, which only a running node does); fenced was powered off
 * through its BMC, or confirmed off by an operator; discovered was found powered off; failed
 * is unknown until its fence says (the BMC may not answer).
 */
export function powerOf(phase: string): Power {
  switch (phase) {
    case 'powering-on':
    case 'netbooting':
    case 'joining':
    case 'ready':
    case 'draining':
      return 'on';
    case 'fenced':
    case 'discovered':
      return 'off';
    default:
      return 'unknown';
  }
}

/** Services still coming up, or failing: `api (starting)`, `host (restarting after a failure)`. */
function busyServices(services: Readonly<Record<string, string>>): string[] {
  const busy: string[] = [];
  for (const [service, state] of Object.entries(services).sort(([a], [b]) => a.localeCompare(b))) {
    if (state === 'starting') busy.push(`${service} (starting)`);
    else if (state === 'backoff') busy.push(`${service} (restarting after a failure)`);
  }
  return busy;
}

/** What a registered, joined node is still doing: etcd, Ceph, services. */
function underWay(facts: NodeFacts): string[] {
  const doing: string[] = [];
  if (facts.etcd === 'joining' || facts.etcd === 'learner')
    doing.push('joining etcd (a learner catching up before it votes)');
  if (facts.ceph && !facts.ceph.osd) doing.push('creating its Ceph OSD');
  if (facts.ceph?.monitor === 'starting') doing.push('starting its Ceph monitor (not in the quorum yet)');
  const busy = busyServices(facts.services);
  if (busy.length > 0) doing.push(`starting services: ${busy.join(', ')}`);
  return doing;
}

const sentence = (parts: readonly string[]) => {
  const text = parts.join('; ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
};

/** The tile of a node with these facts. */
export function nodeTile(facts: NodeFacts): NodeTile {
  const power = powerOf(facts.phase);
  switch (facts.phase) {
    case 'discovered':
      return { power, ready: false, why: 'Found through its BMC, powered off: the provisioner powers it on.' };
    case 'powering-on':
      return { power, ready: false, why: 'Powered on through its BMC: waiting for DHCP and its netboot.' };
    case 'netbooting':
      return { power, ready: false, why: 'Netbooting: loading its image, then enrolling with the provisioner.' };
    case 'draining':
      return { power, ready: false, why: 'Draining: its servers and singletons move to other nodes.' };
    case 'failed':
      return {
        power,
        ready: false,
        why: facts.lastError
          ? `Its agent stopped answering (lease expired) and fencing failed: ${facts.lastError}. An operator may confirm it off with \`rackseed node fence\`.`
          : 'Its agent stopped answering (lease expired): the fencer is powering it off through its BMC.',
      };
    case 'fenced': {
      const how = facts.fenced?.method === 'operator' ? 'confirmed off by an operator' : 'powered off through its BMC';
      const by = facts.fenced && facts.fenced.method !== 'operator' ? ` by ${facts.fenced.by}` : '';
      return { power, ready: false, why: `Fenced: ${how}${by}. Its singletons may move to other nodes.` };
    }
    case 'joining':
    case 'ready': {
      if (!facts.registered) {
        return {
          power,
          ready: false,
          why: 'Its agent stopped answering: waiting for its lease to expire before it is fenced.',
        };
      }
      const doing = underWay(facts);
      if (facts.phase === 'joining') doing.unshift('its agent registered, joining the cluster');
      return doing.length === 0 ? { power, ready: true, why: null } : { power, ready: false, why: sentence(doing) };
    }
    default:
      return { power, ready: false, why: `In an unknown phase (${facts.phase}).` };
  }
}
