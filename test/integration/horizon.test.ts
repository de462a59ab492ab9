import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type BrowserServer, chromium, type Page } from 'playwright-core';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv } from '../../agent/index.js';
import {
  adminPasswordOf,
  adminToken,
  type CloudProcess,
  cloudApi,
  type Daemon,
  memberOf,
  processRunning,
  Scope,
  startCloud,
  waitFor,
} from '../bed/index.js';
import { chromiumPath } from '../bed/browser.js';
import { build } from './agent-helpers.js';

// Horizon as Debian 12 ships it (`openstack-dashboard`, Horizon 23), pointed at a rackseed cloud
// and nothing else, driven in Debian's Chromium as a project member would: log in, the overview's
// limits and usage, a key pair, an image from a file, a server launched through the wizard to
// ACTIVE, its detail page and log, its deletion. No page may show an error banner.
//
// Horizon runs from this test's own directory, writing nothing under /etc, /usr or /var: Debian's
// settings module (openstack_dashboard/settings.py, which reads /etc/openstack-dashboard's
// local_settings.d snippets) imports its local settings as the top-level package `local`, which
// PYTHONPATH finds here first. That file stands in for /etc/openstack-dashboard/local_settings.py,
// whose SECRET_KEY line would create a key store under /var/lib/openstack-dashboard (the package
// removes it after its own build of the static files). PYTHONDONTWRITEBYTECODE keeps Python
// from caching bytecode beside Debian's modules. Horizon gets childEnv's environment only: a
// REQUESTS_CA_BUNDLE in the caller's (as on this machine) would override OPENSTACK_SSL_CACERT in
// every python-requests client (glanceclient's, neutronclient's) and fail the cloud's TLS.
//
// Screenshots of each step and runserver's log go to .bed/artifacts/horizon/ (under
// RACKSEED_ARTIFACTS when set).

const MANAGE = '/usr/share/openstack-dashboard/manage.py';
const ARTIFACTS = join(
  process.env.RACKSEED_ARTIFACTS ?? fileURLToPath(new URL('../../.bed/artifacts/', import.meta.url)),
  'horizon',
);

/** The override of Debian's settings: what pointing Horizon at `cloud` needs. */
function localSettings(cloud: CloudProcess): string {
  return `# Written by rackseed's test/integration/horizon.test.ts.
DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1']
SECRET_KEY = '${randomBytes(32).toString('hex')}'
OPENSTACK_KEYSTONE_URL = '${cloud.url}/identity/v3'
OPENSTACK_SSL_CACERT = '${cloud.ca}'
# Sessions in this one process's memory: no memcached.
SESSION_ENGINE = 'django.contrib.sessions.backends.cache'
CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}
# Warnings (Horizon's handled API errors) and unhandled errors with their traceback to stderr.
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'stderr': {'class': 'logging.StreamHandler'}},
    'root': {'handlers': ['stderr'], 'level': 'WARNING'},
    'loggers': {'django.request': {'handlers': ['stderr'], 'level': 'ERROR', 'propagate': False}},
}
`;
}

/** Starts Debian's Horizon on 127.0.0.1 in `scope` (`manage.py runserver`); resolves once it serves its login page. */
async function startHorizon(scope: Scope, cloud: CloudProcess): Promise<{ url: string; daemon: Daemon }> {
  if (!existsSync(MANAGE))
    throw new Error(`no Horizon at ${MANAGE}: apt-get install openstack-dashboard (scripts/setup.sh does)`);
  const dir = join(scope.dir, 'horizon');
  mkdirSync(join(dir, 'local'), { recursive: true });
  writeFileSync(join(dir, 'local', '__init__.py'), '');
  writeFileSync(join(dir, 'local', 'local_settings.py'), localSettings(cloud), { mode: 0o600 });
  const port = await scope.port();
  const url = `http://127.0.0.1:${port}`;
  // --insecure: runserver serves the static files (Debian's, compressed at install) with DEBUG off.
  const daemon = scope.spawn(
    'horizon',
    ['/usr/bin/python3', MANAGE, 'runserver', '--insecure', '--noreload', `127.0.0.1:${port}`],
    {
      cwd: dir,
      env: childEnv({
        PYTHONPATH: dir,
        PYTHONDONTWRITEBYTECODE: '1',
        DJANGO_SETTINGS_MODULE: 'openstack_dashboard.settings',
      }),
    },
  );
  await waitFor(
    `Horizon on ${url} (log: ${daemon.logFile})`,
    async () => {
      if (!daemon.alive()) throw new Error(readFileSync(daemon.logFile, 'utf8'));
      return (await fetch(`${url}/auth/login/`).catch(() => null))?.status === 200;
    },
    60_000,
    250,
  );
  return { url, daemon };
}

/**
 * Every error banner a page of `context` shows, as `path: text`: Django's messages and Angular's
 * toasts (`.messages .alert-danger`, "Error: …"), seen as they appear, even those a later page
 * or reload takes away.
 */
async function collectBanners(context: BrowserContext): Promise<string[]> {
  const banners: string[] = [];
  await context.exposeBinding('rackseedBanner', ({ page }, text: string) => {
    banners.push(`${new URL(page.url()).pathname}: ${text}`);
  });
  await context.addInitScript(() => {
    const seen = new Set<string>();
    const report = (window as unknown as { rackseedBanner: (text: string) => void }).rackseedBanner;
    new MutationObserver(() => {
      for (const alert of document.querySelectorAll('.messages .alert-danger')) {
        const text = (alert.textContent ?? '').replace(/\s+/g, ' ').trim();
        // An Angular toast is inserted before its {$ $} bindings are filled in.
        if (text && !text.includes('{$') && !seen.has(text)) {
          seen.add(text);
          report(text);
        }
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  return banners;
}

/** The overview's limit charts: [title, "Used … of …"]. */
const limitCharts = (page: Page) =>
  page.$$eval('.d3_quota_bar', (bars) =>
    bars.map((b) =>
      [b.querySelector('.quota_title'), b.querySelector('.quota_subtitle')].map((e) =>
        (e?.textContent ?? '').replace(/\s+/g, ' ').trim(),
      ),
    ),
  );

describe("Horizon (Debian's openstack-dashboard) against rackseed, as a project member", () => {
  let cloud: CloudProcess;
  let scope: Scope;
  let horizon: { url: string; daemon: Daemon };
  let server: BrowserServer;
  let browser: Browser;
  let page: Page;
  let banners: string[];
  let member: string;
  let login: { user: string; password: string };
  let serverId = '';
  let fingerprint = '';
  const file = (name: string) => join(scope.dir, name);

  const shoot = async (name: string) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  };
  /** The instances table's row of `name`. */
  const instanceRow = (name: string) =>
    page.locator('#instances tbody tr').filter({ has: page.locator('td a', { hasText: new RegExp(`^${name}$`) }) });

  beforeAll(async () => {
    build();
    cloud = await startCloud();
    scope = Scope.open('horizon');
    const admin = await adminToken(cloud.url, adminPasswordOf(cloud), { dispatcher: cloud.dispatcher });
    const { user, password } = await memberOf(cloud, admin, 'web');
    member = await memberToken(cloud, user, password);
    horizon = await startHorizon(scope, cloud);
    // launchServer, not launch: the browser's pid, to stop it by its pid whatever happens.
    server = await chromium.launchServer({ executablePath: chromiumPath(), headless: true, timeout: 30_000 });
    browser = await chromium.connect(server.wsEndpoint());
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    banners = await collectBanners(context);
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
    login = { user, password };
  });

  afterAll(async () => {
    const pid = server?.process().pid;
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
    if (pid !== undefined && processRunning(pid)) process.kill(pid, 'SIGKILL');
    await horizon?.daemon.stop(5_000);
    // runserver's log (each request; Horizon's warnings and tracebacks), even when it did not start.
    if (scope && existsSync(join(scope.dir, 'horizon.log'))) {
      mkdirSync(ARTIFACTS, { recursive: true });
      copyFileSync(join(scope.dir, 'horizon.log'), join(ARTIFACTS, 'runserver.log'));
    }
    await scope?.close();
    await cloud?.stop();
  });

  it("logs the member in, into its project's overview: its compute and network limits, and its usage", async () => {
    await page.goto(`${horizon.url}/auth/login/`);
    await page.fill('#id_username', login.user);
    await page.fill('#id_password', login.password);
    await page.click('#loginBtn');
    await page.waitForURL(`${horizon.url}/project/`);
    expect((await page.textContent('.context-project'))?.trim()).toBe('web');
    expect((await page.textContent('.user-menu .user-name'))?.trim()).toBe('web-user');
    expect(await limitCharts(page)).toEqual([
      ['Instances', 'Used 0 of 10'],
      ['VCPUs', 'Used 0 of 20'],
      ['RAM', 'Used 0B of 50GB'],
      ['Floating IPs', 'Allocated 0 of 50'],
      ['Security Groups', 'Used 0 of 10'],
      ['Security Group Rules', 'Used 0 of 100'],
      ['Networks', 'Used 0 of 100'],
      ['Ports', 'Used 0 of 500'],
      ['Routers', 'Used 0 of 10'],
    ]);
    expect(await page.locator('#project_usage tbody').textContent()).toContain('No items to display.');
    await shoot('01-overview.png');
    expect(banners).toEqual([]);
  });

  it('creates a key pair and hands its private key over as a download', async () => {
    await page.goto(`${horizon.url}/project/key_pairs/`);
    await page.getByRole('button', { name: 'Create Key Pair' }).click();
    const modal = page.locator('.modal-dialog');
    await modal.locator('input#name').fill('web-key');
    await modal.locator('select[name=key-type]').selectOption({ label: 'SSH Key' });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      modal.locator('.modal-footer .btn-primary').click(),
    ]);
    expect(download.suggestedFilename()).toBe('web-key.pem');
    await download.saveAs(file('web-key.pem'));
    expect(readFileSync(file('web-key.pem'), 'utf8')).toMatch(/^-----BEGIN (RSA |OPENSSH )?PRIVATE KEY-----/);
    const keys = await cloudApi<{ keypairs: { keypair: { name: string; fingerprint: string } }[] }>(
      cloud,
      member,
      '/compute/v2.1/os-keypairs',
    );
    expect(keys.keypairs.map((k) => k.keypair.name)).toEqual(['web-key']);
    fingerprint = keys.keypairs[0]?.keypair.fingerprint ?? '';
    // Name, type, the fingerprint in the row's folded details, its action.
    const row = page.locator('tbody tr', { hasText: 'web-key' });
    await expect
      .poll(async () => (await row.locator('td').allTextContents()).map((t) => t.trim()).filter(Boolean))
      .toEqual(['web-key', 'ssh', fingerprint, 'Delete Key Pair']);
    await shoot('02-key-pair.png');
    expect(banners).toEqual([]);
  });

  it('creates an image from an uploaded file, active in the images table', async () => {
    const bytes = randomBytes(256 * 1024);
    writeFileSync(file('tiny.raw'), bytes);
    await page.goto(`${horizon.url}/project/images/`);
    await page.getByRole('button', { name: 'Create Image' }).click();
    const modal = page.locator('.modal-dialog');
    await modal.locator('#imageForm-name').fill('tiny');
    const [chooser] = await Promise.all([
      page.waitForEvent('filechooser'),
      modal.locator('#imageForm-image_file').click(),
    ]);
    await chooser.setFiles(file('tiny.raw'));
    await modal.locator('#imageForm-format').selectOption({ label: 'Raw' });
    await modal.locator('.modal-footer .btn-primary').click();
    const row = page.locator('tbody tr', { hasText: 'tiny' });
    await row.filter({ hasText: 'Active' }).waitFor();
    expect((await row.locator('td').allTextContents()).map((t) => t.trim())).toEqual(
      expect.arrayContaining(['tiny', 'Image', 'Active', 'Shared', 'No', 'RAW']),
    );
    const images = await cloudApi<{ images: { name: string; size: number; status: string }[] }>(
      cloud,
      member,
      '/image/v2/images?name=tiny',
    );
    expect(images.images).toEqual([expect.objectContaining({ name: 'tiny', size: bytes.length, status: 'active' })]);
    await shoot('03-image.png');
    expect(banners).toEqual([]);
  });

  it('launches a server through the wizard on the provider network and sees it ACTIVE', async () => {
    await page.goto(`${horizon.url}/project/instances/`);
    await page.click('#instances__action_launch-ng');
    const wizard = page.locator('.modal-dialog');
    const step = (title: string) => wizard.locator('.wizard-nav').getByText(title, { exact: true }).click();
    /** The texts of the rows the current step has allocated (each has a button to take it back). */
    const allocated = async () => {
      const rows = wizard
        .locator('.transfer-allocated')
        .filter({ visible: true })
        .locator('tbody tr')
        .filter({ has: page.getByRole('button') });
      await rows.first().waitFor();
      return (await rows.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    };
    await wizard.locator('#name').fill('web-1');
    await step('Source');
    await wizard.locator('tr', { hasText: 'tiny' }).getByRole('button').click();
    await step('Flavor');
    await wizard.locator('tr', { hasText: 'm1.tiny' }).getByRole('button').click();
    await step('Networks');
    // The provider network is the only one the project may use: the wizard allocates it itself.
    expect(await allocated()).toEqual([expect.stringMatching(/^provider provider-v4 Yes Up Active$/)]);
    await shoot('04-launch-networks.png');
    await step('Key Pair');
    // The wizard allocates the project's only key pair itself, and shows its fingerprint.
    expect(await allocated()).toEqual([`web-key ssh ${fingerprint}`]);
    await shoot('05-launch-key-pair.png');
    await wizard.locator('.modal-footer').getByRole('button', { name: 'Launch Instance' }).click();
    await wizard.waitFor({ state: 'detached' });
    const row = instanceRow('web-1');
    await row.locator('td', { hasText: /^\s*Active\s*$/ }).waitFor({ timeout: 60_000 });
    const listed = await cloudApi<{ servers: { id: string }[] }>(cloud, member, '/compute/v2.1/servers?name=web-1');
    serverId = listed.servers[0]?.id ?? '';
    const shown = await cloudApi<{
      server: { status: string; key_name: string; addresses: Record<string, { addr: string }[]> };
    }>(cloud, member, `/compute/v2.1/servers/${serverId}`);
    expect(shown.server).toEqual(
      expect.objectContaining({ status: 'ACTIVE', key_name: 'web-key', addresses: { provider: [expect.anything()] } }),
    );
    expect(await row.getAttribute('id')).toBe(`instances__row__${serverId}`);
    // Name, image, address, flavor, key pair, status, (lock), zone, task, power state, age, actions.
    const cells = await row.locator('td').evaluateAll((tds) => tds.map((td) => (td as HTMLElement).innerText.trim()));
    expect(cells.slice(1, 12)).toEqual([
      'web-1',
      'tiny',
      shown.server.addresses.provider?.[0]?.addr,
      'm1.tiny',
      'web-key',
      'Active',
      '',
      'nova',
      'None',
      'Running',
      expect.stringMatching(/^\d+\s+minutes?$/),
    ]);
    await shoot('06-instances-active.png');
    await page.goto(`${horizon.url}/project/`);
    expect(await limitCharts(page)).toEqual([
      ['Instances', 'Used 1 of 10'],
      ['VCPUs', 'Used 1 of 20'],
      ['RAM', 'Used 512MB of 50GB'],
      ['Floating IPs', 'Allocated 0 of 50'],
      // The project's default group, made with its four rules on the launch's first need.
      ['Security Groups', 'Used 1 of 10'],
      ['Security Group Rules', 'Used 4 of 100'],
      ['Networks', 'Used 0 of 100'],
      ['Ports', 'Used 1 of 500'],
      ['Routers', 'Used 0 of 10'],
    ]);
    expect(await page.locator('#project_usage tbody tr').first().locator('td').first().textContent()).toContain(
      'web-1',
    );
    // Today's usage, counted up to now (not to the end of the day Horizon asks for): a server of
    // seconds has used hardly a vCPU-hour yet.
    const activity = Object.fromEntries(
      await page.$$eval('#activity dt', (terms) =>
        terms.map((dt) => [dt.textContent?.trim() ?? '', dt.nextElementSibling?.textContent?.trim() ?? '']),
      ),
    );
    expect(activity).toEqual(expect.objectContaining({ 'Active Instances:': '1', 'Active RAM:': '512MB' }));
    expect(Number(activity["This Period's VCPU-Hours:"])).toBeLessThan(0.1);
    expect(Number(activity["This Period's GB-Hours:"])).toBeLessThan(0.1);
    expect(Number(activity["This Period's RAM-Hours:"])).toBeGreaterThan(0);
    expect(Number(activity["This Period's RAM-Hours:"])).toBeLessThan(51.2);
    await shoot('07-overview-in-use.png');
    expect(banners).toEqual([]);
  });

  it('shows the server’s detail page and its Log tab', async () => {
    await page.goto(`${horizon.url}/project/instances/${serverId}/`);
    expect(await page.locator('.detail-title').textContent()).toContain('web-1');
    // Each term of the overview tab with the description after it.
    const detail = Object.fromEntries(
      await page.$$eval('.detail dt', (terms) =>
        terms.map((dt) => [dt.textContent?.trim() ?? '', dt.nextElementSibling?.textContent?.trim() ?? '']),
      ),
    );
    expect(detail).toEqual(
      expect.objectContaining({
        Name: 'web-1',
        ID: serverId,
        Status: 'Active',
        'Key Name': 'web-key',
        'Image Name': 'tiny',
      }),
    );
    expect(detail.provider).toMatch(/^10\.16\.\d+\.\d+$/);
    // Its security group's rules as Neutron shows them: in from the group's own members, out anywhere.
    expect(
      detail.default
        ?.split(/\s*\n\s*/)
        .filter(Boolean)
        .map((rule) => rule.replace(/\s+/g, ' ')),
    ).toEqual(['ALLOW IPv4 from default', 'ALLOW IPv6 from default', 'ALLOW IPv4 to 0.0.0.0/0', 'ALLOW IPv6 to ::/0']);
    await shoot('08-instance-detail.png');
    await page.locator('.nav-tabs a', { hasText: /^Log$/ }).click();
    const log = page.locator('.tab-pane.active pre.logs');
    await log.waitFor({ state: 'attached' });
    // What Nova's os-getConsoleOutput answers for the server is what the tab shows.
    const output = await cloudApi<{ output: string }>(cloud, member, `/compute/v2.1/servers/${serverId}/action`, {
      method: 'POST',
      body: { 'os-getConsoleOutput': { length: 35 } },
    });
    await expect.poll(async () => (await log.textContent())?.trim()).toBe(output.output.trim());
    expect(await page.locator('.tab-pane.active h3').textContent()).toBe('Instance Console Log');
    await shoot('09-instance-log.png');
    expect(banners).toEqual([]);
  });

  it('makes a router on the external network and allocates a floating IP from it', async () => {
    await page.goto(`${horizon.url}/project/routers/`);
    await page.locator('#routers__action_create').click();
    const modal = page.locator('.modal-dialog');
    await modal.locator('#id_name').fill('web-router');
    // Horizon's themable select hides the real one behind its own dropdown.
    await modal.locator('#id_external_network').selectOption({ label: 'provider' }, { force: true });
    await modal.locator('.modal-footer .btn-primary').click();
    const row = page.locator('#routers tbody tr', { hasText: 'web-router' });
    await row.waitFor();
    expect((await row.locator('td').allTextContents()).map((t) => t.trim())).toEqual(
      expect.arrayContaining(['web-router', 'Active', 'provider']),
    );
    const routers = await cloudApi<{
      routers: { name: string; external_gateway_info: { network_id: string; external_fixed_ips: unknown[] } }[];
    }>(cloud, member, '/network/v2.0/routers');
    expect(routers.routers).toEqual([
      expect.objectContaining({
        name: 'web-router',
        external_gateway_info: expect.objectContaining({ external_fixed_ips: [expect.anything()] }),
      }),
    ]);
    await shoot('10-router.png');

    await page.goto(`${horizon.url}/project/floating_ips/`);
    await page.locator('#floating_ips__action_allocate').click();
    await modal.locator('#id_pool').selectOption({ label: 'provider' }, { force: true });
    await modal.locator('.modal-footer .btn-primary').click();
    await modal.waitFor({ state: 'detached' });
    const allocated = () =>
      cloudApi<{ floatingips: { floating_ip_address: string; status: string }[] }>(
        cloud,
        member,
        '/network/v2.0/floatingips',
      ).then((answer) => answer.floatingips);
    await expect.poll(allocated).toEqual([expect.objectContaining({ status: 'DOWN' })]);
    const address = (await allocated())[0]?.floating_ip_address ?? '';
    expect(address).toMatch(/^10\.16\./);
    await page.locator('#floating_ips tbody tr', { hasText: address }).waitFor();
    await page.goto(`${horizon.url}/project/`);
    expect(await limitCharts(page)).toEqual(
      expect.arrayContaining([
        ['Floating IPs', 'Allocated 1 of 50'],
        ['Routers', 'Used 1 of 10'],
      ]),
    );
    await shoot('11-floating-ip.png');
    expect(banners).toEqual([]);
  });

  it('deletes the server and sees it gone', async () => {
    await page.goto(`${horizon.url}/project/instances/`);
    const row = instanceRow('web-1');
    await row.locator('.btn-group .dropdown-toggle').click();
    await row.getByRole('button', { name: 'Delete Instance' }).click();
    await page.locator('.modal-footer').getByText('Delete Instance').click();
    await row.waitFor({ state: 'detached', timeout: 30_000 });
    await page.reload();
    await expect.poll(() => page.locator('#instances tbody').textContent()).toContain('No items to display.');
    const servers = await cloudApi<{ servers: unknown[] }>(cloud, member, '/compute/v2.1/servers');
    expect(servers.servers).toEqual([]);
    await shoot('12-instance-deleted.png');
    expect(banners).toEqual([]);
  });
});

/** A project-scoped password token of `user` on its default project (the member's own calls). */
async function memberToken(cloud: CloudProcess, user: string, password: string): Promise<string> {
  const response = await fetch(`${cloud.url}/identity/v3/auth/tokens`, {
    dispatcher: cloud.dispatcher,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
        scope: { project: { name: 'web', domain: { id: 'default' } } },
      },
    }),
  });
  if (response.status !== 201) throw new Error(`token of ${user}: ${response.status} ${await response.text()}`);
  return response.headers.get('x-subject-token') ?? '';
}
