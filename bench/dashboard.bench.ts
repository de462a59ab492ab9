import { randomBytes } from 'node:crypto';
// The dashboard's page weight and time to first render in Chromium (playwright-core, headless),
// against the same built files served by a plain static server (node:http) as the reference, in
// the same run: the login page (navigation → the login form in the DOM) and the rack view
// (navigation, with a session in sessionStorage → a tile per node in the DOM). The API is the app
// `cloud serve` builds (createApi, fastify) with a real rack: a real etcd and three real agents;
// its rack comes from the live stream (etcd read at the first listener). The static reference
// serves the rack's first frames as captured from that stream in this run. Both on plain HTTP on
// loopback, so that TLS (measured by `make bench BENCH=tls`) weighs on neither. Each navigation
// is in a new browser context (a cold cache), the API and the reference alternating.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Response as PageResponse } from 'playwright-core';
import { Agent, fetch } from 'undici';
import { readStatus, Store } from '../agent/index.js';
import { bootstrapCloud, createApi } from '../appliance/api/index.js';
import { loadDashboardAssets } from '../appliance/api/dashboard/assets.js';
import { LocalBlobStore } from '../appliance/blobs/index.js';
import { FakeDriver } from '../appliance/compute/index.js';
import { openSqliteDb } from '../appliance/db/index.js';
import { adminToken, Scope, startEtcd, waitFor } from '../test/bed/index.js';
import { startBrowser } from '../test/bed/browser.js';
import { median, quantile, row } from './stats.js';

const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 15);
const NODES = 3;
const PASSWORD = 'bench-password';
const REPO = new URL('..', import.meta.url).pathname;
const SESSION_KEY = 'rackseed.dashboard.session';

interface Render {
  ms: number;
  fcp: number;
  /** When the rack's stream answered its first byte (NaN for the login page). */
  streamed: number;
  /** Bodies of the document, scripts and stylesheets, and their headers, in bytes. */
  html: number;
  js: number;
  css: number;
  headers: number;
}

/** One cold navigation to `url`: time from navigation start to `selector` in the DOM, and what it fetched. */
async function firstRender(browser: Browser, url: string, selector: string, session?: string): Promise<Render> {
  const context = await browser.newContext();
  try {
    await context.addInitScript(
      ({ selector, session, key }) => {
        if (session) sessionStorage.setItem(key, session);
        const seen = window as unknown as { rendered?: number; streamed?: number };
        // When the rack's stream answers (its headers; a stream has no resource timing until it ends).
        const fetchFirst = window.fetch.bind(window);
        window.fetch = async (...args: Parameters<typeof window.fetch>) => {
          const response = await fetchFirst(...args);
          if (String(args[0]).endsWith('/rack/stream')) seen.streamed ??= performance.now();
          return response;
        };
        new MutationObserver(() => {
          if (seen.rendered === undefined && document.querySelector(selector)) seen.rendered = performance.now();
        }).observe(document, { subtree: true, childList: true });
      },
      { selector, session, key: SESSION_KEY },
    );
    const page = await context.newPage();
    const responses: PageResponse[] = [];
    page.on('response', (response) => responses.push(response));
    await page.goto(url, { waitUntil: 'commit' });
    await page.waitForFunction(() => (window as unknown as { rendered?: number }).rendered !== undefined, null, {
      timeout: 20_000,
    });
    const ms = await page.evaluate(() => (window as unknown as { rendered: number }).rendered);
    // The first paint may come after the element is in the DOM: wait for its entry.
    await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0, null, {
      timeout: 5_000,
    });
    const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? 0);
    const streamed = await page.evaluate(() => (window as unknown as { streamed?: number }).streamed ?? Number.NaN);
    const render: Render = { ms, fcp, streamed, html: 0, js: 0, css: 0, headers: 0 };
    for (const response of responses) {
      const type = response.request().resourceType();
      if (type !== 'document' && type !== 'script' && type !== 'stylesheet') continue;
      const sizes = await response.request().sizes();
      render[type === 'document' ? 'html' : type === 'script' ? 'js' : 'css'] += sizes.responseBodySize;
      render.headers += sizes.responseHeadersSize;
    }
    return render;
  } finally {
    await context.close();
  }
}

/** The reference: the same page and assets as plain static files, and the rack's captured first frames. */
async function staticServer(
  files: ReadonlyMap<string, { body: Buffer; type: string }>,
  frames: string,
): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (path === '/dashboard/api/rack/stream') {
      // As the API's stream: its first frames, then open until the page leaves.
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      response.write(frames);
      return;
    }
    const file = files.get(path);
    if (!file) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length });
    response.end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server };
}

/** The stream's text up to its first snapshot: the `events` frame and the `snapshot` frame. */
async function firstFrames(url: string, token: string, dispatcher: Agent): Promise<string> {
  const abort = new AbortController();
  const response = await fetch(`${url}/dashboard/api/rack/stream`, {
    dispatcher,
    headers: { 'x-auth-token': token },
    signal: abort.signal,
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!/event: snapshot\ndata: .*\n\n/.test(text)) text += Buffer.from((await reader.read()).value ?? []).toString();
  abort.abort();
  return text;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const msOf = (values: readonly number[]) => `${median(values).toFixed(1)} / ${quantile(values, 0.9).toFixed(1)}`;

export default async function dashboardBench(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO }); // the browser code is the build's
  const assets = await loadDashboardAssets(join(REPO, 'dist/appliance/api/dashboard/web'));
  if (!assets) throw new Error('the dashboard was not built into dist/');
  const scope = Scope.open('bench-dashboard');
  const etcd = await startEtcd({ members: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-bench-dashboard-'));
  const store = Store.connect(etcd.endpoints);
  const db = openSqliteDb(join(dir, 'cloud.db'));
  const plain = new Agent();
  let browser: Browser | undefined;
  let reference: Server | undefined;
  try {
    const key = join(scope.dir, 'cluster.key');
    writeFileSync(key, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    for (let i = 1; i <= NODES; i++) {
      const data = join(scope.dir, `n${i}`);
      mkdirSync(data, { recursive: true });
      const config = join(scope.dir, `n${i}.json`);
      const node = {
        name: `n${i}`,
        etcd: etcd.endpoints,
        dataDir: data,
        leaseTtl: 3,
        clusterKeyFile: key,
        services: [],
      };
      writeFileSync(config, JSON.stringify(node));
      scope.spawn(`agent-n${i}`, ['node', join(REPO, 'bin/rackseed.js'), 'agent', '--config', config]);
    }
    await waitFor(
      `${NODES} ready nodes`,
      async () => (await readStatus(store)).nodes.filter((n) => n.state === 'ready').length === NODES,
      30_000,
      200,
    );
    await bootstrapCloud(db, PASSWORD);
    const api = await createApi({
      db,
      blobs: new LocalBlobStore(join(dir, 'images')),
      driver: new FakeDriver(),
      credentialKey: randomBytes(32),
      publicUrl: 'http://127.0.0.1',
      logLevel: 'silent',
      dashboard: { rack: { store, elections: [] }, assets },
    });
    const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const token = await adminToken(url, PASSWORD, { dispatcher: plain });
    const session = JSON.stringify({
      token,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      user: { id: 'admin', name: 'admin' },
      project: { id: 'admin', name: 'admin' },
      roles: ['admin'],
    });
    const frames = await firstFrames(url, token, plain);
    // The server's side: a stream's first snapshot with no feed running (each is the first viewer).
    const feedStarts: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await waitFor('the feed to stop', () => api.rackFeed?.watches === 0, 5_000, 10);
      const started = performance.now();
      await firstFrames(url, token, plain);
      feedStarts.push(performance.now() - started);
    }
    const files = new Map([['/dashboard/', assets.page]]);
    for (const [name, file] of assets.files) files.set(`/dashboard/assets/${assets.version}/${name}`, file);
    const served = await staticServer(files, frames);
    reference = served.server;
    browser = await startBrowser();

    const targets = { api: url, static: served.url };
    const results = {
      login: { api: [] as Render[], static: [] as Render[] },
      rack: { api: [] as Render[], static: [] as Render[] },
    };
    const lastTile = `#tiles .tile[data-node="n${NODES}"]`;
    for (let run = -2; run < RUNS; run++) {
      // Two warm-up rounds (Chromium's first contexts, the JIT), then alternating order.
      const order = run % 2 === 0 ? (['api', 'static'] as const) : (['static', 'api'] as const);
      for (const target of order) {
        const login = await firstRender(browser, `${targets[target]}/dashboard/`, '#login-form');
        const rack = await firstRender(browser, `${targets[target]}/dashboard/`, lastTile, session);
        if (run < 0) continue;
        results.login[target].push(login);
        results.rack[target].push(rack);
      }
    }

    console.log(
      `dashboard in Chromium ${browser.version()} (headless), ${RUNS} cold navigations each; rack: ${NODES} nodes from real agents`,
    );
    const weight = (r: Render) => r.html + r.js + r.css;
    for (const view of ['login', 'rack'] as const) {
      const { api: a, static: s } = results[view];
      const first = a[0] as Render;
      const ref = s[0] as Render;
      row(
        `${view}: page weight (HTML + JS + CSS bodies)`,
        `API ${kib(weight(first))} (${kib(first.html)} + ${kib(first.js)} + ${kib(first.css)}), headers ${kib(first.headers)}`,
        `static ${kib(weight(ref))}, headers ${kib(ref.headers)}`,
      );
      const times = (rs: readonly Render[]) => rs.map((r) => r.ms);
      row(
        `${view}: first render p50 / p90 ms`,
        `API ${msOf(times(a))}`,
        `static ${msOf(times(s))}`,
        `ratio of p50s ${(median(times(a)) / median(times(s))).toFixed(2)}`,
      );
      row(
        `${view}: first contentful paint p50 ms`,
        `API ${median(a.map((r) => r.fcp)).toFixed(1)}`,
        `static ${median(s.map((r) => r.fcp)).toFixed(1)}`,
      );
    }
    const { api: a, static: s } = results.rack;
    row(
      "rack: the stream's answer (headers) p50 ms",
      `API ${median(a.map((r) => r.streamed)).toFixed(1)}`,
      `static ${median(s.map((r) => r.streamed)).toFixed(1)}`,
    );
    row('rack: the stream up to its first snapshot', kib(Buffer.byteLength(frames)));
    row('rack: the API alone, stream → first snapshot, feed not running, p50 / p90 ms', msOf(feedStarts));
    await api.app.close();
  } finally {
    await browser?.close();
    reference?.close();
    await plain.close();
    await store.close();
    await db.close();
    await scope.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
