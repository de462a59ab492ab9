import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Document } from 'yaml';
import { RackseedError } from '../../agent/errors/index.js';

/**
 * The operator's clouds.yaml (the file the OpenStack clients read): rackseed adds, replaces
 * and removes its own entries, keeping every other entry and comment. Written beside and
 * renamed, mode 0600 (it holds passwords).
 */

export class CloudsYamlError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('CLI_ERR_CLOUDS_YAML', message, { cause });
  }
}

/** ~/.config/openstack/clouds.yaml of the user in `env`. */
export const defaultCloudsYaml = (env: NodeJS.ProcessEnv) =>
  resolve(join(env.HOME ?? homedir(), '.config', 'openstack', 'clouds.yaml'));

/** Applies `change` to the file's document (made when missing, if `create`); writes it back if it changed. */
async function edit(path: string, create: boolean, change: (doc: Document) => boolean): Promise<void> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    if (!create) return;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  }
  const { Document, parseDocument } = await import('yaml');
  const doc = text ? parseDocument(text) : new Document({ clouds: {} });
  if (doc.errors.length > 0) throw new CloudsYamlError(`${path} is not valid YAML; fix or move it, then try again`);
  if (!change(doc)) return;
  // Beside, then rename: the user's clouds.yaml is never seen half written.
  await writeFile(`${path}.rackseed-tmp`, doc.toString(), { mode: 0o600 });
  await chmod(`${path}.rackseed-tmp`, 0o600);
  await rename(`${path}.rackseed-tmp`, path);
}

/**
 * Adds or replaces cloud `name`: admin of project admin, Keystone v3 at `authUrl`, its TLS
 * certificate checked against `cacert` (a CA certificate's file) when given, else against the
 * system's trust store.
 */
export async function writeCloud(
  path: string,
  name: string,
  cloud: { authUrl: string; password: string; cacert: string | undefined },
): Promise<void> {
  const { authUrl, password, cacert } = cloud;
  const { isMap } = await import('yaml'); // loaded on use, as the CLI loads its verbs' heavier parts
  await edit(path, true, (doc) => {
    if (!doc.has('clouds')) doc.set('clouds', {});
    // An empty `clouds: {}` (what removing the last entry leaves) is a flow map: write entries as blocks.
    const clouds = doc.get('clouds', true);
    if (isMap(clouds) && clouds.items.length === 0) clouds.flow = false;
    doc.setIn(['clouds', name], {
      auth: {
        auth_url: authUrl,
        username: 'admin',
        password,
        project_name: 'admin',
        user_domain_name: 'Default',
        project_domain_name: 'Default',
      },
      ...(cacert ? { cacert } : {}),
      region_name: 'RegionOne',
      interface: 'public',
      identity_api_version: 3,
    });
    return true;
  });
}

/** Removes cloud `name`, if there is such a file and it has it. */
export async function removeCloud(path: string, name: string): Promise<void> {
  await edit(path, false, (doc) => doc.deleteIn(['clouds', name]));
}
