/**
 * The project (any user's): its servers (state, addresses, flavor, image; console log through
 * Nova's `os-getConsoleOutput`), images and networks, through the same OpenStack paths the CLI
 * uses; a form creates a server, a button deletes one. It polls every 2 s while a server is in
 * a transitional state, every 15 s otherwise. Volumes come when the cloud serves them.
 */
import { h, replace, table } from './dom.js';
import { ApiCallError, call, type Session } from './session.js';
import { formatBytes } from './units.js';

interface ServerView {
  id: string;
  name: string;
  status: string;
  addresses: Record<string, { addr: string }[]>;
  flavor: { id: string };
  image: { id: string } | '';
  'OS-EXT-STS:task_state'?: string | null;
}
interface Named {
  id: string;
  name: string;
}
interface ImageView extends Named {
  status: string;
  size: number | null;
  visibility: string;
}
interface NetworkView extends Named {
  subnets: string[];
  shared: boolean;
}

const TRANSITIONAL = new Set(['BUILD', 'REBOOT', 'HARD_REBOOT', 'REBUILD', 'MIGRATING', 'RESIZE']);
const FAST_POLL_MS = 2_000;
const SLOW_POLL_MS = 15_000;

const transitional = (s: ServerView) => TRANSITIONAL.has(s.status) || !!s['OS-EXT-STS:task_state'];

const addressesOf = (s: ServerView) =>
  Object.entries(s.addresses)
    .flatMap(([network, list]) => list.map((a) => `${network}: ${a.addr}`))
    .join(', ');

const options = (items: readonly Named[]) => items.map((i) => h('option', { attrs: { value: i.id } }, i.name || i.id));

/** Draws the project view into `root` and keeps it fresh until `signal` aborts. */
export function projectView(root: HTMLElement, session: Session, signal: AbortSignal): void {
  const message = h('p', { class: 'message', attrs: { id: 'project-message', role: 'status' } });
  const servers = h('div', { attrs: { id: 'servers' } });
  const images = h('div', { attrs: { id: 'images' } });
  const networks = h('div', { attrs: { id: 'networks' } });
  const consoleBox = h('pre', { class: 'console', attrs: { id: 'console', hidden: true } });
  const flavorSelect = h('select', { attrs: { name: 'flavor', required: true } });
  const imageSelect = h('select', { attrs: { name: 'image', required: true } });
  const networkSelect = h('select', { attrs: { name: 'network', required: true } });
  const keySelect = h('select', { attrs: { name: 'key' } });
  const nameInput = h('input', { attrs: { name: 'name', required: true, maxlength: 255, autocomplete: 'off' } });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let flavorNames = new Map<string, string>();
  let imageNames = new Map<string, string>();

  const say = (text: string, kind: 'info' | 'error' = 'info') => {
    message.textContent = text;
    message.dataset.kind = kind;
  };
  const failed = (error: unknown) => {
    if (error instanceof ApiCallError && error.status === 401) return; // the page goes back to the login form
    say(error instanceof Error ? error.message : String(error), 'error');
  };

  const showConsole = async (s: ServerView) => {
    try {
      const { output } = await call<{ output: string }>(session, `compute/v2.1/servers/${s.id}/action`, {
        method: 'POST',
        body: JSON.stringify({ 'os-getConsoleOutput': { length: 100 } }),
      });
      consoleBox.hidden = false;
      consoleBox.dataset.server = s.id;
      consoleBox.textContent = `console of ${s.name}:\n${output || '(empty)'}`;
    } catch (error) {
      failed(error);
    }
  };
  const remove = async (s: ServerView) => {
    try {
      await call(session, `compute/v2.1/servers/${s.id}`, { method: 'DELETE' });
      say(`deleting ${s.name}…`);
      schedule(0);
    } catch (error) {
      failed(error);
    }
  };

  const serverRow = (s: ServerView) =>
    h(
      'tr',
      { data: { server: s.id, serverName: s.name, status: s.status } },
      h('td', { class: 'name' }, s.name),
      h('td', null, h('span', { class: `status status-${s.status.toLowerCase()}` }, s.status)),
      h('td', null, addressesOf(s)),
      h('td', null, flavorNames.get(s.flavor.id) ?? s.flavor.id),
      h('td', null, s.image ? (imageNames.get(s.image.id) ?? s.image.id) : ''),
      h(
        'td',
        { class: 'actions' },
        h(
          'button',
          { attrs: { type: 'button' }, data: { action: 'console' }, on: { click: () => void showConsole(s) } },
          'console',
        ),
        h(
          'button',
          {
            class: 'danger',
            attrs: { type: 'button' },
            data: { action: 'delete' },
            on: { click: () => void remove(s) },
          },
          'delete',
        ),
      ),
    );

  const refresh = async (): Promise<void> => {
    const [serverList, flavors, imageList, networkList, keyList] = await Promise.all([
      call<{ servers: ServerView[] }>(session, 'compute/v2.1/servers/detail'),
      call<{ flavors: Named[] }>(session, 'compute/v2.1/flavors/detail'),
      call<{ images: ImageView[] }>(session, 'image/v2/images'),
      call<{ networks: NetworkView[] }>(session, 'network/v2.0/networks'),
      call<{ keypairs: { keypair: { name: string } }[] }>(session, 'compute/v2.1/os-keypairs'),
    ]);
    if (signal.aborted) return;
    flavorNames = new Map(flavors.flavors.map((f) => [f.id, f.name]));
    imageNames = new Map(imageList.images.map((i) => [i.id, i.name]));
    const keep = (select: HTMLSelectElement, items: readonly Named[]) => {
      const chosen = select.value;
      replace(select, options(items));
      if (items.some((i) => i.id === chosen)) select.value = chosen;
    };
    keep(flavorSelect, flavors.flavors);
    keep(
      imageSelect,
      imageList.images.filter((i) => i.status === 'active'),
    );
    keep(networkSelect, networkList.networks);
    // A key pair is optional (a server may get its access otherwise): "none" comes first.
    keep(keySelect, [
      { id: '', name: 'none' },
      ...keyList.keypairs.map(({ keypair }) => ({ id: keypair.name, name: keypair.name })),
    ]);
    const list = [...serverList.servers].sort((a, b) => a.name.localeCompare(b.name));
    replace(servers, table(['name', 'status', 'addresses', 'flavor', 'image', ''], list.map(serverRow), 'no servers'));
    replace(
      images,
      table(
        ['name', 'status', 'size', 'visibility'],
        imageList.images.map((i) =>
          h(
            'tr',
            null,
            h('td', null, i.name),
            h('td', null, i.status),
            h('td', null, i.size === null ? '' : formatBytes(i.size)),
            h('td', null, i.visibility),
          ),
        ),
        'no images: upload one with `openstack image create`',
      ),
    );
    replace(
      networks,
      table(
        ['name', 'subnets', 'shared'],
        networkList.networks.map((n) =>
          h('tr', null, h('td', null, n.name), h('td', null, n.subnets.length), h('td', null, n.shared ? 'yes' : 'no')),
        ),
        'no networks',
      ),
    );
    schedule(list.some(transitional) ? FAST_POLL_MS : SLOW_POLL_MS);
  };
  function schedule(ms: number): void {
    clearTimeout(timer);
    if (signal.aborted) return;
    timer = setTimeout(() => void refresh().catch((error: unknown) => (failed(error), schedule(SLOW_POLL_MS))), ms);
  }
  signal.addEventListener('abort', () => clearTimeout(timer));

  const create = async (event: SubmitEvent) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    try {
      await call(session, 'compute/v2.1/servers', {
        method: 'POST',
        body: JSON.stringify({
          server: {
            name,
            flavorRef: flavorSelect.value,
            imageRef: imageSelect.value,
            networks: [{ uuid: networkSelect.value }],
            ...(keySelect.value ? { key_name: keySelect.value } : {}),
          },
        }),
      });
      say(`creating ${name}…`);
      nameInput.value = '';
      schedule(0);
    } catch (error) {
      failed(error);
    }
  };

  replace(
    root,
    h('h2', null, `Project ${session.project.name}`),
    message,
    h('section', { class: 'panel' }, h('h3', null, 'Servers'), servers, consoleBox),
    h(
      'section',
      { class: 'panel' },
      h('h3', null, 'Create a server'),
      h(
        'form',
        { class: 'create', attrs: { id: 'create-server' }, on: { submit: (e) => void create(e) } },
        h('label', null, 'name ', nameInput),
        h('label', null, 'flavor ', flavorSelect),
        h('label', null, 'image ', imageSelect),
        h('label', null, 'network ', networkSelect),
        h('label', null, 'key pair ', keySelect),
        h('button', { attrs: { type: 'submit' } }, 'create'),
      ),
    ),
    h('section', { class: 'panel' }, h('h3', null, 'Images'), images),
    h('section', { class: 'panel' }, h('h3', null, 'Networks'), networks),
    h(
      'section',
      { class: 'panel' },
      h('h3', null, 'Volumes'),
      h('p', { class: 'muted' }, 'This cloud serves no block storage API yet.'),
    ),
  );
  schedule(0);
}
