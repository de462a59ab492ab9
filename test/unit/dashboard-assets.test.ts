import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importsOf, loadDashboardAssets } from '../../appliance/api/dashboard/assets.js';
import { ASSET_HEADERS, SECURITY_HEADERS } from '../../appliance/api/dashboard/routes.js';
import { ADMIN_PASSWORD, startTestApi, tenant, tokenFor } from './api-helpers.js';

/** Compiled modules as the build leaves them: main imports a and b; unused is reached by nothing. */
function writeBuild(dir: string): void {
  writeFileSync(
    join(dir, 'main.js'),
    "import { a } from './a.js';\nimport './b.js';\na();\n//# sourceMappingURL=main.js.map\n",
  );
  writeFileSync(join(dir, 'a.js'), "export { b } from './b.js';\nexport const a = () => 1;\n");
  writeFileSync(join(dir, 'b.js'), 'export const b = 2;\n');
  writeFileSync(join(dir, 'unused.js'), 'export const secret = 3;\n');
}

describe('dashboard assets', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-dash-'));
    writeBuild(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the relative imports of a compiled module', () => {
    expect(
      importsOf("import { x } from './x.js';\nexport * from \"./y.js\";\nimport './z.js';\nimport a from 'pkg';"),
    ).toEqual(['x.js', 'y.js', 'z.js']);
  });

  it('serves the modules main.js reaches, without source maps, under a version that hashes them', async () => {
    const assets = await loadDashboardAssets(dir);
    expect(assets).not.toBeNull();
    expect([...(assets?.files.keys() ?? [])].sort()).toEqual(['a.js', 'b.js', 'dashboard.css', 'main.js']);
    expect(assets?.files.get('main.js')?.body.toString()).not.toContain('sourceMappingURL');
    const page = assets?.page.body.toString() ?? '';
    expect(page).toContain(`<script type="module" src="assets/${assets?.version}/main.js"></script>`);
    expect(page).toContain(`<link rel="modulepreload" href="assets/${assets?.version}/b.js">`);
    expect(page).not.toMatch(/<script>|style=|https?:\/\//); // nothing inline, nothing from elsewhere
    writeFileSync(join(dir, 'b.js'), 'export const b = 20;\n');
    expect((await loadDashboardAssets(dir))?.version).not.toBe(assets?.version);
  });

  it('has none when nothing is built', async () => {
    expect(await loadDashboardAssets(join(dir, 'nowhere'))).toBeNull();
  });
});

describe('dashboard routes on one machine', () => {
  let dir: string;
  let test: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-dash-'));
    writeBuild(dir);
    test = await startTestApi({ dashboard: { assets: await loadDashboardAssets(dir) } });
    admin = await tokenFor(test.api, 'admin', ADMIN_PASSWORD, 'admin');
  });
  afterAll(async () => {
    await test.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page with its security headers, revalidated by ETag', async () => {
    const page = await test.api.app.inject({ url: '/dashboard/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(page.headers[name]).toBe(value);
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'self';.*frame-ancestors 'none'$/);
    const again = await test.api.app.inject({
      url: '/dashboard/',
      headers: { 'if-none-match': String(page.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('sends /dashboard to /dashboard/, where its relative URLs resolve', async () => {
    const answer = await test.api.app.inject({ url: '/dashboard' });
    expect(answer.statusCode).toBe(308);
    expect(new URL(String(answer.headers.location), 'https://cloud.test/dashboard').pathname).toBe('/dashboard/');
  });

  it('serves assets for good under their version, and nothing else', async () => {
    const version = /assets\/(\w+)\/main\.js/.exec((await test.api.app.inject({ url: '/dashboard/' })).body)?.[1];
    const main = await test.api.app.inject({ url: `/dashboard/assets/${version}/main.js` });
    expect(main.statusCode).toBe(200);
    expect(main.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(main.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // A script is no document: it keeps its type (nosniff) and stays on this site, and no more.
    expect(Object.keys(main.headers).filter((h) => h in SECURITY_HEADERS)).toEqual(Object.keys(ASSET_HEADERS));
    for (const [name, value] of Object.entries(ASSET_HEADERS)) expect(main.headers[name]).toBe(value);
    const css = await test.api.app.inject({ url: `/dashboard/assets/${version}/dashboard.css` });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    for (const url of [
      `/dashboard/assets/${version}/unused.js`,
      '/dashboard/assets/0000/main.js',
      `/dashboard/assets/${version}/..%2Fmain.js`,
    ]) {
      const answer = await test.api.app.inject({ url });
      expect(answer.statusCode, url).toBe(404);
      expect(answer.json()).toMatchObject({ error: { code: 404 } });
      expect(answer.headers['content-security-policy']).toBe(SECURITY_HEADERS['content-security-policy']);
    }
  });

  it('answers the rack with the API fault bodies: 401 without a token, 403 to a non-admin, 404 here (no rack)', async () => {
    const anonymous = await test.api.app.inject({ url: '/dashboard/api/rack' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ error: { code: 401, title: 'Unauthorized' } });
    const member = await tenant(test.api, admin, 'dash-p', 'member');
    for (const url of ['/dashboard/api/rack', '/dashboard/api/rack/stream']) {
      const refused = await test.api.app.inject({ url, headers: { 'x-auth-token': member } });
      expect(refused.statusCode, url).toBe(403);
      expect(refused.json()).toMatchObject({ error: { code: 403, title: 'Forbidden' } });
      expect(refused.headers['content-security-policy']).toBe(SECURITY_HEADERS['content-security-policy']);
      const none = await test.api.app.inject({ url, headers: { 'x-auth-token': admin } });
      expect(none.statusCode, url).toBe(404);
      expect(none.json().error.message).toMatch(/one machine .* no rack/);
    }
  });
});

describe('dashboard not built', () => {
  it('answers 503 and says how to build it', async () => {
    const test = await startTestApi({ dashboard: { assets: null } });
    try {
      const answer = await test.api.app.inject({ url: '/dashboard/' });
      expect(answer.statusCode).toBe(503);
      expect(answer.json().error.message).toMatch(/make build/);
    } finally {
      await test.stop();
    }
  });
});
