/**
 * The dashboard's files, read once at start into memory: the browser modules the build
 * compiled from web/ (those `main.js` reaches through its imports, nothing else), the
 * stylesheet and the page. Assets live under `assets/VERSION/`, VERSION being a hash of them
 * all, so they are cached for good (`immutable`) and a new build is a new URL; the page itself
 * is revalidated with its ETag.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexHtml } from './page.js';
import { STYLESHEET } from './style.js';

/** One file as served. */
export interface DashboardFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

export interface DashboardAssets {
  /** The hash of every asset: their directory under `assets/`. */
  readonly version: string;
  readonly page: DashboardFile;
  /** By file name (`main.js`, `dashboard.css`). */
  readonly files: ReadonlyMap<string, DashboardFile>;
}

/** Where the build puts the compiled browser modules: web/ beside this module in dist/. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('./web/', import.meta.url));

const STYLESHEET_NAME = 'dashboard.css';
const JS = 'text/javascript; charset=utf-8';

const file = (body: Buffer, type: string): DashboardFile => ({
  body,
  type,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
});

/** The relative modules a compiled module imports (`from './x.js'`, `import './x.js'`). */
export function importsOf(source: string): string[] {
  const found = new Set<string>();
  for (const match of source.matchAll(/(?:\bfrom\s*|\bimport\s*)['"]\.\/([\w-]+\.js)['"]/g)) {
    if (match[1]) found.add(match[1]);
  }
  return [...found];
}

/**
 * Reads the compiled modules in `dir`, from `main.js` through its imports; null when there is
 * no `main.js` (the code runs from its sources, not a build). The build's source-map comments
 * are dropped: the maps point at sources the API does not serve.
 */
export async function loadDashboardAssets(dir: string = DEFAULT_ASSETS_DIR): Promise<DashboardAssets | null> {
  const modules = new Map<string, Buffer>();
  const pending = ['main.js'];
  for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
    if (modules.has(name)) continue;
    let text: string;
    try {
      text = await readFile(join(dir, name), 'utf8');
    } catch (error) {
      if (name === 'main.js' && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    text = text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    modules.set(name, Buffer.from(text));
    pending.push(...importsOf(text));
  }
  const files = new Map<string, DashboardFile>([
    [STYLESHEET_NAME, file(Buffer.from(STYLESHEET), 'text/css; charset=utf-8')],
  ]);
  for (const [name, body] of modules) files.set(name, file(body, JS));
  const hash = createHash('sha256');
  for (const [name, f] of [...files].sort(([a], [b]) => a.localeCompare(b))) hash.update(`${name}\0${f.etag}\0`);
  const version = hash.digest('hex').slice(0, 12);
  const page = indexHtml(version, STYLESHEET_NAME, [...modules.keys()]);
  return { version, page: file(Buffer.from(page), 'text/html; charset=utf-8'), files };
}
