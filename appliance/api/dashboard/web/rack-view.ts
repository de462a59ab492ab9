/**
 * The rack (the cloud admin's): a tile per node (BMC power as the cluster knows it, lifecycle
 * phase and, when not ready, why; etcd role, singletons, services, servers), etcd's members and
 * leader, every singleton's holder (the DB master's included), Ceph, and the event timeline.
 * It follows the live stream: each snapshot redraws the rack, each event goes on top of the
 * timeline; no reload.
 */
import { clock, h, replace, table } from './dom.js';
import type { Session } from './session.js';
import { followRack } from './stream.js';
import { formatBytes } from './units.js';
import type { RackCeph, RackEvent, RackNode, RackServer, RackSnapshot } from './wire.js';

/** How many events the timeline keeps. */
const TIMELINE_LENGTH = 200;

const serverList = (servers: readonly RackServer[]) =>
  servers.length === 0
    ? h('p', { class: 'muted' }, 'no servers')
    : h(
        'ul',
        { class: 'servers' },
        servers.map((s) =>
          h(
            'li',
            { data: { server: s.id } },
            s.name,
            ' ',
            h('span', { class: `status status-${s.status.toLowerCase()}` }, s.status),
          ),
        ),
      );

/** A node's tile; `open`: its services' list stays unfolded across redraws. */
function tile(node: RackNode, open: boolean) {
  return h(
    'article',
    {
      class: `tile phase-${node.phase}${node.ready ? ' ready' : ''}`,
      data: { node: node.name, phase: node.phase, power: node.power },
      attrs: { 'aria-label': `node ${node.name}` },
    },
    h(
      'header',
      null,
      h('h3', null, node.name),
      h(
        'span',
        { class: `power power-${node.power}`, attrs: { title: 'BMC power, as the cluster knows it' } },
        `power ${node.power}`,
      ),
    ),
    h('p', { class: 'phase' }, node.phase, node.etcd ? h('span', { class: 'role' }, ` · etcd ${node.etcd}`) : null),
    node.why ? h('p', { class: 'why' }, node.why) : null,
    node.singletons.length > 0
      ? h(
          'p',
          { class: 'chips' },
          node.singletons.map((s) => h('span', { class: 'chip', data: { held: s } }, s)),
        )
      : null,
    Object.keys(node.services).length > 0
      ? h(
          'details',
          { attrs: { open } },
          h('summary', null, `${Object.keys(node.services).length} services`),
          h(
            'ul',
            { class: 'services' },
            Object.entries(node.services).map(([name, state]) => h('li', null, `${name}: ${state}`)),
          ),
        )
      : null,
    h('h4', null, `servers (${node.servers.length})`),
    serverList(node.servers),
  );
}

function cephPanel(ceph: RackCeph | null) {
  if (!ceph)
    return h(
      'section',
      { class: 'panel', attrs: { id: 'ceph' } },
      h('h2', null, 'Ceph'),
      h('p', { class: 'muted' }, 'not running (no Ceph keeper has reported yet)'),
    );
  return h(
    'section',
    { class: 'panel', attrs: { id: 'ceph' } },
    h('h2', null, 'Ceph ', h('span', { class: `health health-${ceph.health.toLowerCase()}` }, ceph.health)),
    ceph.checks.length > 0
      ? h(
          'ul',
          { class: 'checks' },
          ceph.checks.map((c) => h('li', null, c)),
        )
      : null,
    h(
      'dl',
      null,
      h('dt', null, 'monitors'),
      h('dd', null, `${ceph.quorum.length}/${ceph.mons} in quorum (${ceph.quorum.join(', ') || 'none'})`),
      h('dt', null, 'OSDs'),
      h('dd', null, `${ceph.osds}: ${ceph.up} up, ${ceph.in} in`),
      h('dt', null, 'placement groups'),
      h('dd', null, String(ceph.pgs)),
      ceph.capacity ? h('dt', null, 'raw space') : null,
      ceph.capacity
        ? h(
            'dd',
            { attrs: { id: 'ceph-capacity' } },
            `${formatBytes(ceph.capacity.usedBytes)} used of ${formatBytes(ceph.capacity.totalBytes)}`,
          )
        : null,
    ),
    table(
      ['pool', ...['size/min', 'stored', 'objects', 'available'].map((title) => h('th', { class: 'num' }, title))],
      ceph.pools.map((p) =>
        h(
          'tr',
          { data: { pool: p.name } },
          h('td', null, p.name),
          h('td', { class: 'num' }, `${p.size}/${p.minSize}`),
          h(
            'td',
            { class: 'num', data: { stored: String(p.usage?.storedBytes ?? '') } },
            p.usage ? formatBytes(p.usage.storedBytes) : '–',
          ),
          h('td', { class: 'num' }, p.usage ? p.usage.objects : '–'),
          h('td', { class: 'num' }, p.usage ? formatBytes(p.usage.maxAvailBytes) : '–'),
        ),
      ),
    ),
    h('p', { class: 'muted' }, `as of ${clock(ceph.at)}`),
  );
}

function clusterPanels(rack: RackSnapshot) {
  return [
    h(
      'section',
      { class: 'panel', attrs: { id: 'singletons' } },
      h('h2', null, 'Singletons'),
      table(
        ['service', 'holder', 'since'],
        rack.singletons.map((s) =>
          h(
            'tr',
            { data: { singleton: s.service, holder: s.holder ?? '' } },
            h('td', null, s.service),
            h('td', null, s.holder ?? (s.claimedBy ? `${s.claimedBy} (dead, awaiting its fence)` : 'nobody')),
            h('td', null, s.since ? clock(s.since) : ''),
          ),
        ),
      ),
    ),
    h(
      'section',
      { class: 'panel', attrs: { id: 'etcd' } },
      h('h2', null, 'etcd'),
      h(
        'p',
        null,
        `leader: ${rack.etcd.leader ?? 'none'} · ${rack.etcd.members.filter((m) => m.role === 'voter').length} voters, ${rack.etcd.members.filter((m) => m.role === 'learner').length} learners`,
      ),
      h(
        'ul',
        null,
        rack.etcd.members.map((m) => h('li', null, `${m.name || '(not started)'}: ${m.leader ? 'leader' : m.role}`)),
      ),
    ),
    cephPanel(rack.ceph),
    rack.unplaced.length > 0
      ? h('section', { class: 'panel' }, h('h2', null, 'Servers on no node'), serverList(rack.unplaced))
      : null,
  ];
}

const eventKey = (e: RackEvent) => `${e.at}|${e.by}|${e.type}|${e.node ?? ''}|${e.detail}`;

const eventItem = (e: RackEvent) =>
  h(
    'li',
    { data: { type: e.type, ...(e.node ? { node: e.node } : {}) } },
    h('time', { attrs: { datetime: e.at } }, clock(e.at)),
    ' ',
    h('span', { class: 'type' }, e.type),
    e.node ? ` ${e.node}` : '',
    ': ',
    e.detail,
    e.code ? h('code', null, ` ${e.code}`) : null,
  );

/** Draws the rack view into `root` and keeps it live until `signal` aborts; `unavailable` when there is no rack for this session. */
export function rackView(
  root: HTMLElement,
  session: Session,
  signal: AbortSignal,
  unavailable: (status: number, message: string) => void,
): void {
  const state = h('span', { class: 'live', attrs: { id: 'live-state' } }, 'connecting…');
  const summary = h('p', { class: 'summary' });
  const tiles = h('div', { class: 'tiles', attrs: { id: 'tiles' } });
  const panels = h('div', { class: 'panels' });
  const timeline = h('ol', { class: 'timeline', attrs: { id: 'timeline' } });
  const seen = new Set<string>();
  replace(
    root,
    h('div', { class: 'rack-head' }, h('h2', null, 'The rack'), state),
    summary,
    tiles,
    panels,
    h('section', { class: 'panel' }, h('h2', null, 'Events'), timeline),
  );
  const addEvents = (events: readonly RackEvent[]) => {
    for (const e of events) {
      const key = eventKey(e);
      if (seen.has(key)) continue;
      seen.add(key);
      timeline.prepend(eventItem(e));
    }
    while (timeline.children.length > TIMELINE_LENGTH) timeline.lastElementChild?.remove();
  };
  void followRack(
    session,
    {
      state: (s) => {
        state.textContent = s === 'live' ? 'live' : 'reconnecting…';
        state.dataset.state = s;
      },
      unavailable,
      frame: (name, data) => {
        if (name === 'snapshot') {
          const rack = data as RackSnapshot;
          const ready = rack.nodes.filter((n) => n.ready).length;
          replace(summary, `${rack.nodes.length} nodes, ${ready} ready · updated ${clock(rack.at)}`);
          const open = new Set(
            [...tiles.querySelectorAll<HTMLElement>('.tile:has(details[open])')].map((t) => t.dataset.node),
          );
          replace(
            tiles,
            rack.nodes.length > 0
              ? rack.nodes.map((n) => tile(n, open.has(n.name)))
              : h('p', { class: 'muted' }, 'no node yet'),
          );
          replace(panels, clusterPanels(rack));
        } else if (name === 'events') addEvents(data as readonly RackEvent[]);
        else if (name === 'event') addEvents([data as RackEvent]);
      },
    },
    signal,
  );
}
