import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Envelope, keys, Store } from '../../agent/index.js';
import { type Api, bootstrapCloud, createApi } from '../../appliance/api/index.js';
import { LocalBlobStore } from '../../appliance/blobs/index.js';
import { FakeDriver } from '../../appliance/compute/index.js';
import { type CloudDb, openSqliteDb } from '../../appliance/db/index.js';
import {
  adminPasswordOf,
  adminToken,
  cloudApi as api,
  type CephCluster,
  type CloudProcess,
  type EtcdCluster,
  type MasterProcess,
  memberOf,
  Scope,
  type SimulatedRack,
  spawnCloudMaster,
  startCeph,
  startCloud,
  startEtcd,
  startSimulatedBmcs,
  testNodeTls,
  waitFor,
} from '../bed/index.js';
import { cspViolations, logIn, shoot, startBrowser } from '../bed/browser.js';
import { BIN, build, RECORDER, REPO, status, writeClusterKey } from './agent-helpers.js';

// The dashboard in Debian's Chromium (playwright-core), against real APIs: a cluster node's
// `cloud serve --etcd` over a DB master on Ceph, with three agents on ipmi_sim BMCs for the
// rack; one machine's `cloud serve --data-dir` for the project. Screenshots go to the scope's
// directory and to .bed/artifacts/dashboard/ (RACKSEED_ARTIFACTS), which outlives it;
// RACKSEED_UPDATE_DOCS=1 also copies the rack's after the fence to docs/dashboard-rack.png.

/** etcd's own count of its watchers (the mvcc store's), from its /metrics. */
async function etcdWatchers(etcd: EtcdCluster): Promise<number> {
  const text = await (await fetch(`${etcd.endpoints[0]}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
  if (!line) throw new Error('etcd reports no etcd_debugging_mvcc_watcher_total');
  return Number(line.split(' ')[1]);
}

describe('dashboard: the rack, live (a cluster node API over real etcd, Ceph, and agents on ipmi_sim)', () => {
  let scope: Scope;
  let etcd: EtcdCluster;
  let ceph: CephCluster;
  let master: MasterProcess;
  let cloud: CloudProcess;
  let rack: SimulatedRack;
  let browser: Browser;
  let context: BrowserContext;
  let admin: string;
  let password: string;
  let page: Page;
  let violations: string[];

  beforeAll(async () => {
    build();
    scope = Scope.open('dashboard');
    [etcd, ceph] = await Promise.all([startEtcd({ members: 1 }), startCeph()]);
    // The RBD pools a cluster's Ceph keeper makes: Glance's bootable copies and servers' disks.
    for (const pool of ['images', 'vms']) {
      await ceph.ceph(['osd', 'pool', 'create', pool, '8']);
      await ceph.ceph(['osd', 'pool', 'application', 'enable', pool, 'rbd']);
    }
    const tls = await testNodeTls(join(scope.dir, 'pki'), 'api');
    master = spawnCloudMaster(scope, {
      etcd: etcd.endpoints,
      cephConf: ceph.conf,
      pool: ceph.pool,
      namespace: 'cloud',
      node: 'm1',
      tls,
    });
    password = 'dashboard-admin-secret';
    const adminPasswordFile = join(scope.dir, 'admin-password');
    writeFileSync(adminPasswordFile, `${password}\n`, { mode: 0o600 });
    const credentialKeyFile = join(scope.dir, 'credential.key');
    writeFileSync(credentialKeyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    cloud = await startCloud({
      cluster: {
        ...{ etcd: etcd.endpoints, cephConf: ceph.conf, imagePool: ceph.pool },
        ...{ adminPasswordFile, credentialKeyFile, tlsDir: tls.dir },
      },
    });
    // Three nodes as agent-failover runs them: each BMC's power-on starts its agent, power-off kills it.
    const log = join(scope.dir, 'claims.log');
    writeFileSync(log, '');
    const clusterKeyFile = writeClusterKey(scope.dir);
    rack = await startSimulatedBmcs({
      count: 3,
      onPowerOn: ({ index }) => `exec node ${BIN} agent --config ${join(scope.dir, `n${index}.yaml`)}`,
    });
    for (const bmc of rack.bmcs) {
      const dir = join(scope.dir, `n${bmc.index}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'bmc-password'), `${bmc.password}\n`);
      writeFileSync(
        join(scope.dir, `n${bmc.index}.yaml`),
        JSON.stringify({
          name: `n${bmc.index}`,
          etcd: etcd.endpoints,
          dataDir: dir,
          leaseTtl: 2,
          clusterKeyFile,
          bmc: { host: bmc.host, port: bmc.port, user: bmc.user, passwordFile: join(dir, 'bmc-password') },
          services: [{ name: 'db', placement: 'singleton', command: ['sh', RECORDER, log] }],
        }),
      );
      await bmc.ipmitool(['chassis', 'power', 'on']);
    }
    await waitFor(
      'three ready nodes, with db and the fencer held',
      () => {
        const s = status(etcd.endpoints);
        return s.nodes.filter((n) => n.state === 'ready').length === 3 && !!s.singletons.db && !!s.singletons.fencer;
      },
      30_000,
      300,
    );
    admin = await adminToken(cloud.url, password, { dispatcher: cloud.dispatcher });
    // A server on each node (the fake driver places them on the live nodes), for the tiles.
    const [image] = (await api<{ images: { id: string }[] }>(cloud, admin, '/image/v2/images')).images;
    const imageId = image?.id ?? (await uploadImage(cloud, admin));
    const network = (await api<{ networks: { id: string }[] }>(cloud, admin, '/network/v2.0/networks')).networks[0];
    for (const name of ['web-1', 'web-2', 'db-1']) {
      await api(cloud, admin, '/compute/v2.1/servers', {
        method: 'POST',
        body: { server: { name, flavorRef: '1', imageRef: imageId, networks: [{ uuid: network?.id }] } },
      });
    }
    browser = await startBrowser();
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await cloud?.stop();
    await rack?.stop();
    await master?.daemon.stop(5_000);
    await scope?.close();
    await Promise.all([ceph?.stop(), etcd?.stop()]);
  });

  it("logs the admin in and shows every node's tile ready, with etcd, the singletons and the servers", async () => {
    page = await logIn(context, cloud.url, 'admin', password);
    violations = cspViolations(page);
    await page
      .waitForFunction(() => document.querySelectorAll('.tile.ready').length === 3, null, { timeout: 10_000 })
      .catch(async (error: unknown) => {
        throw new Error(`three ready tiles: ${await page.textContent('#content')}`, { cause: error });
      });
    const tiles = await page.$$eval('.tile', (all) =>
      all.map((t) => [
        (t as HTMLElement).dataset.node,
        (t as HTMLElement).dataset.phase,
        (t as HTMLElement).dataset.power,
      ]),
    );
    expect(tiles).toEqual([
      ['n1', 'ready', 'on'],
      ['n2', 'ready', 'on'],
      ['n3', 'ready', 'on'],
    ]);
    expect(await page.textContent('#live-state')).toBe('live');
    const s = status(etcd.endpoints);
    expect(await page.getAttribute('#singletons [data-singleton="db"]', 'data-holder')).toBe(s.singletons.db);
    expect(await page.getAttribute('#singletons [data-singleton="fencer"]', 'data-holder')).toBe(s.singletons.fencer);
    expect(await page.getAttribute('#singletons [data-singleton="db-master"]', 'data-holder')).toBe('m1');
    expect(await page.textContent('#etcd')).toMatch(/leader: .+ · 1 voters, 0 learners/);
    // Servers are read from the cloud database at each snapshot (at least every 5 s).
    await page.waitForFunction(() => document.querySelectorAll('.tile [data-server]').length === 3, null, {
      timeout: 10_000,
    });
    expect(await page.locator('#timeline li').count()).toBeGreaterThan(0);
    await shoot(page, scope.dir, 'dashboard-rack.png');
  });

  it('follows a power-off live: the tile goes fenced within a second of etcd, the singleton moves, no reload', async () => {
    const holder = status(etcd.endpoints).singletons.db ?? '';
    const bmc = rack.bmcs[Number(holder.slice(1)) - 1];
    if (!bmc) throw new Error(`no BMC for ${holder}`);
    await page.evaluate(() => ((window as unknown as { noReload: boolean }).noReload = true));
    // When etcd says the node machine is fenced, and when the page shows it.
    const store = Store.connect(etcd.endpoints);
    let fencedInEtcd = 0;
    const watch = await store.watchPrefix(keys.nodeMachine(holder), {
      onChange: ({ entry }) => {
        const value = (JSON.parse(entry.value) as Envelope).snapshot.value;
        if (value === 'fenced' && fencedInEtcd === 0) fencedInEtcd = Date.now();
      },
      onResync: () => {},
    });
    await page.evaluate((node) => {
      const seen = window as unknown as { fencedShown?: number };
      new MutationObserver(() => {
        if (!seen.fencedShown && document.querySelector(`.tile[data-node="${node}"][data-phase="fenced"]`))
          seen.fencedShown = Date.now();
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    }, holder);
    try {
      await bmc.ipmitool(['chassis', 'power', 'off']);
      await page.waitForSelector(`.tile[data-node="${holder}"][data-phase="fenced"][data-power="off"]`, {
        timeout: 30_000,
      });
      const shownAt = await page.evaluate(() => (window as unknown as { fencedShown?: number }).fencedShown ?? 0);
      await waitFor('etcd to report the fence to the test too', () => fencedInEtcd > 0, 5_000);
      console.log(`dashboard: ${holder} fenced in etcd → shown in the page: ${shownAt - fencedInEtcd} ms`);
      expect(shownAt - fencedInEtcd).toBeLessThan(1_000);
    } finally {
      await watch.close();
      await store.close();
    }
    expect(await page.textContent(`.tile[data-node="${holder}"] .why`)).toMatch(/^Fenced: powered off through its BMC/);
    await page.waitForFunction(
      (dead) => {
        const holderOf = document.querySelector('#singletons [data-singleton="db"]')?.getAttribute('data-holder');
        return !!holderOf && holderOf !== dead;
      },
      holder,
      { timeout: 20_000 },
    );
    expect(await page.getAttribute('#singletons [data-singleton="db"]', 'data-holder')).toBe(
      status(etcd.endpoints).singletons.db,
    );
    await page.waitForSelector(`#timeline li[data-type="node.fenced"][data-node="${holder}"]`, { timeout: 5_000 });
    await page.waitForSelector('#timeline li[data-type="singleton.elected"]', { timeout: 5_000 });
    // The same document all along: the marker set before the power-off is still there.
    expect(await page.evaluate(() => (window as unknown as { noReload?: boolean }).noReload)).toBe(true);
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
    const shot = await shoot(page, scope.dir, 'dashboard-rack-fenced.png');
    if (process.env.RACKSEED_UPDATE_DOCS === '1') {
      mkdirSync(join(REPO, 'docs'), { recursive: true });
      copyFileSync(shot, join(REPO, 'docs', 'dashboard-rack.png'));
    }
    expect(violations).toEqual([]);
  });

  it('shows no rack to a project member, and the rack API answers them 403', async () => {
    const { user, password: secret } = await memberOf(cloud, admin, 'team');
    const member = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const memberPage = await logIn(member, cloud.url, user, secret);
      await memberPage.waitForSelector('#servers table, #servers p');
      expect(await memberPage.locator('.tabs a').allTextContents()).toEqual(['Project']);
      expect(await memberPage.locator('.tile').count()).toBe(0);
      const answer = await memberPage.evaluate(async () => {
        const session = JSON.parse(sessionStorage.getItem('rackseed.dashboard.session') ?? '{}') as { token: string };
        const response = await globalThis.fetch('api/rack', { headers: { 'x-auth-token': session.token } });
        return { status: response.status, body: (await response.json()) as unknown };
      });
      expect(answer).toEqual({
        status: 403,
        body: {
          error: { code: 403, title: 'Forbidden', message: 'Policy does not allow this operation to be performed.' },
        },
      });
    } finally {
      await member.close();
    }
  });

  it('closes every etcd watch of the live feed when the last dashboard leaves', async () => {
    // An API in this process on the same etcd, so that its feed can be counted too.
    const dir = mkdtempSync(join(tmpdir(), 'rackseed-dash-'));
    const db: CloudDb = openSqliteDb(join(dir, 'cloud.db'));
    await bootstrapCloud(db, 'local-secret');
    const store = Store.connect(etcd.endpoints);
    const local: Api = await createApi({
      db,
      blobs: new LocalBlobStore(join(dir, 'images')),
      driver: new FakeDriver(),
      credentialKey: randomBytes(32),
      publicUrl: 'http://127.0.0.1',
      logLevel: 'silent',
      dashboard: { rack: { store, elections: ['db-master'] }, assets: null },
    });
    const plain = new Agent();
    try {
      const url = await local.app.listen({ port: 0, host: '127.0.0.1' });
      const token = await adminToken(url, 'local-secret', { dispatcher: plain });
      const before = await etcdWatchers(etcd);
      const aborts = [new AbortController(), new AbortController(), new AbortController()];
      for (const abort of aborts) {
        const response = await fetch(`${url}/dashboard/api/rack/stream`, {
          dispatcher: plain,
          headers: { 'x-auth-token': token },
          signal: abort.signal,
        });
        expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        let text = '';
        while (!text.includes('event: snapshot')) text += Buffer.from((await reader.read()).value ?? []).toString();
        expect(text).toMatch(/^event: events\n/);
      }
      // One feed for the three: 8 prefixes and the event log.
      expect(local.rackFeed?.listeners).toBe(3);
      expect(local.rackFeed?.watches).toBe(9);
      await waitFor('etcd to count the feed’s watches', async () => (await etcdWatchers(etcd)) === before + 9, 5_000);
      for (const abort of aborts) abort.abort();
      await waitFor('the feed to close its watches', () => local.rackFeed?.watches === 0, 5_000, 50);
      await waitFor('etcd to count them gone', async () => (await etcdWatchers(etcd)) === before, 5_000);
      expect(local.rackFeed?.listeners).toBe(0);
    } finally {
      await plain.close();
      await local.app.close();
      await store.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Uploads a small raw image through Glance; its id. */
async function uploadImage(cloud: CloudProcess, token: string): Promise<string> {
  const image = await api<{ id: string }>(cloud, token, '/image/v2/images', {
    method: 'POST',
    body: { name: 'tiny', disk_format: 'raw', container_format: 'bare', visibility: 'public' },
  });
  const response = await fetch(`${cloud.url}/image/v2/images/${image.id}/file`, {
    dispatcher: cloud.dispatcher,
    method: 'PUT',
    headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
    body: Buffer.alloc(1024 * 1024),
  });
  if (response.status !== 204) throw new Error(`image upload: ${response.status} ${await response.text()}`);
  return image.id;
}

describe("dashboard: the project (one machine's API, the fake compute driver)", () => {
  let cloud: CloudProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let password: string;
  let dir: Scope;
  let admin: string;
  const dialogs: string[] = [];

  beforeAll(async () => {
    build();
    dir = Scope.open('dashboard-project');
    cloud = await startCloud();
    password = adminPasswordOf(cloud);
    admin = await adminToken(cloud.url, password, { dispatcher: cloud.dispatcher });
    await uploadImage(cloud, admin);
    await api(cloud, admin, '/compute/v2.1/os-keypairs', { method: 'POST', body: { keypair: { name: 'web-key' } } });
    browser = await startBrowser();
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await cloud?.stop();
    await dir?.close();
  });

  const row = (name: string) => page.locator('#servers tr').filter({ has: page.locator('td.name', { hasText: name }) });

  it("shows the admin the project only: one machine's API has no rack", async () => {
    page = await logIn(context, cloud.url, 'admin', password);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.waitForSelector('#create-server');
    expect(await page.locator('.tabs a').allTextContents()).toEqual(['Project']);
    expect(await page.textContent('#who')).toBe('admin · admin');
  });

  it('creates a server from the form, sees it reach ACTIVE, shows its console log, and deletes it', async () => {
    await page.waitForFunction(
      () => (document.querySelector('select[name=image]') as HTMLSelectElement).options.length > 0,
    );
    await page.fill('#create-server input[name=name]', 'web-1');
    await page.selectOption('#create-server select[name=flavor]', { label: 'm1.tiny' });
    await page.selectOption('#create-server select[name=network]', { label: 'provider' });
    expect(await page.locator('#create-server select[name=key] option').allTextContents()).toEqual(['none', 'web-key']);
    await page.selectOption('#create-server select[name=key]', { label: 'web-key' });
    await page.click('#create-server button[type=submit]');
    await row('web-1').locator('[data-status="ACTIVE"], .status-active').first().waitFor({ timeout: 10_000 });
    const id = (await row('web-1').getAttribute('data-server')) ?? '';
    const shown = await api<{ server: { key_name: string | null } }>(cloud, admin, `/compute/v2.1/servers/${id}`);
    expect(shown.server.key_name).toBe('web-key');
    expect(await row('web-1').locator('td').nth(2).textContent()).toMatch(/^provider: 10\.16\.\d+\.\d+$/);
    expect(await row('web-1').locator('td').nth(3).textContent()).toBe('m1.tiny');
    expect(await row('web-1').locator('td').nth(4).textContent()).toBe('tiny');
    await row('web-1').locator('button[data-action=console]').click();
    await page.waitForSelector('#console:not([hidden])');
    expect(await page.textContent('#console')).toMatch(/^console of web-1:/);
    await shoot(page, dir.dir, 'dashboard-project.png');
    await row('web-1').locator('button[data-action=delete]').click();
    await row('web-1').waitFor({ state: 'detached', timeout: 10_000 });
  });

  it('renders a server named like markup as text: no element, no script', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    await page.fill('#create-server input[name=name]', evil);
    await page.click('#create-server button[type=submit]');
    await row(evil).waitFor({ timeout: 10_000 });
    expect(await row(evil).locator('td.name').textContent()).toBe(evil);
    expect(await page.locator('#servers img').count()).toBe(0);
    expect(await page.locator('#project-message').textContent()).toBe(`creating ${evil}…`);
    expect(dialogs).toEqual([]);
  });

  it('sends a revoked token back to the login form with a message; logging out revokes the token', async () => {
    const token = await page.evaluate(
      () => (JSON.parse(sessionStorage.getItem('rackseed.dashboard.session') ?? '{}') as { token: string }).token,
    );
    // Revoked behind the page's back (as by another logout): the next call is refused.
    const revoke = await fetch(`${cloud.url}/identity/v3/auth/tokens`, {
      dispatcher: cloud.dispatcher,
      method: 'DELETE',
      headers: { 'x-auth-token': token, 'x-subject-token': token },
    });
    expect(revoke.status).toBe(204);
    await page.reload();
    await page.waitForSelector('#login-form');
    expect(await page.textContent('#login-message')).toBe('Your session has expired or was ended: log in again.');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    page = await logIn(context, cloud.url, 'admin', password);
    const fresh = await page.evaluate(
      () => (JSON.parse(sessionStorage.getItem('rackseed.dashboard.session') ?? '{}') as { token: string }).token,
    );
    await page.click('#logout');
    await page.waitForSelector('#login-form');
    expect(await page.textContent('#login-message')).toBe('You have logged out.');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await waitFor(
      'the token to be revoked',
      async () =>
        (
          await fetch(`${cloud.url}/identity/v3/auth/tokens`, {
            dispatcher: cloud.dispatcher,
            headers: { 'x-auth-token': fresh, 'x-subject-token': fresh },
          })
        ).status === 401,
      5_000,
    );
  });

  it('refuses a wrong password on the form with a clear message', async () => {
    await page.fill('#login-form input[name=user]', 'admin');
    await page.fill('#login-form input[name=password]', 'not-the-password');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-message')?.textContent?.startsWith('Wrong'));
    expect(await page.textContent('#login-message')).toBe('Wrong user name or password (or the project is not yours).');
  });
});
