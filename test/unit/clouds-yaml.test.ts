import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CloudsYamlError, removeCloud, writeCloud } from '../../appliance/cli/clouds-yaml.js';

describe("the operator's clouds.yaml", () => {
  const dirs: string[] = [];
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'clouds-yaml-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('adds an entry beside the others, keeping their comments, mode 0600; removes only its own', async () => {
    const file = join(tmp(), 'clouds.yaml');
    writeFileSync(file, '# mine\nclouds:\n  other:\n    auth: { auth_url: http://x/identity }  # keep\n');
    await writeCloud(file, 'rackseed-lab', {
      authUrl: 'https://127.0.0.1:8000/identity',
      password: 's3cret',
      cacert: undefined,
    });
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# mine');
    expect(text).toContain('# keep');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const yaml = parse(text) as { clouds: Record<string, { auth: Record<string, string> }> };
    expect(yaml.clouds['rackseed-lab']?.auth).toMatchObject({
      auth_url: 'https://127.0.0.1:8000/identity',
      username: 'admin',
      password: 's3cret',
      project_name: 'admin',
    });
    expect(yaml.clouds.other?.auth.auth_url).toBe('http://x/identity');
    expect(yaml.clouds['rackseed-lab']).not.toHaveProperty('cacert');

    await writeCloud(file, 'rackseed-lab', {
      authUrl: 'https://127.0.0.1:9000/identity',
      password: 'again',
      cacert: undefined,
    });
    const replaced = parse(readFileSync(file, 'utf8')) as typeof yaml;
    expect(replaced.clouds['rackseed-lab']?.auth.auth_url).toBe('https://127.0.0.1:9000/identity');

    // The CA the cloud's certificate is checked against, as openstacksdk reads it.
    await writeCloud(file, 'rackseed-lab', {
      authUrl: 'https://127.0.0.1:9000/identity',
      password: 'again',
      cacert: '/var/lib/rackseed/tls/ca.crt',
    });
    const withCa = parse(readFileSync(file, 'utf8')) as { clouds: Record<string, { cacert?: string }> };
    expect(withCa.clouds['rackseed-lab']?.cacert).toBe('/var/lib/rackseed/tls/ca.crt');

    await removeCloud(file, 'rackseed-lab');
    const removed = parse(readFileSync(file, 'utf8')) as typeof yaml;
    expect(Object.keys(removed.clouds)).toEqual(['other']);
  });

  it('makes the file and its directory when missing; removing from a missing file makes nothing', async () => {
    const dir = tmp();
    await removeCloud(join(dir, 'none', 'clouds.yaml'), 'rackseed-lab');
    expect(existsSync(join(dir, 'none'))).toBe(false);
    const file = join(dir, 'openstack', 'clouds.yaml');
    await writeCloud(file, 'rackseed', {
      authUrl: 'https://127.0.0.1:5000/identity',
      password: 'pw',
      cacert: undefined,
    });
    expect((parse(readFileSync(file, 'utf8')) as { clouds: object }).clouds).toHaveProperty('rackseed');
    // Block style, readable, also after the last entry was removed (which leaves `clouds: {}`).
    expect(readFileSync(file, 'utf8')).toMatch(/^clouds:\n {2}rackseed:\n {4}auth:\n/);
    await removeCloud(file, 'rackseed');
    await writeCloud(file, 'rackseed-lab', {
      authUrl: 'https://127.0.0.1:5000/identity',
      password: 'pw',
      cacert: undefined,
    });
    expect(readFileSync(file, 'utf8')).toMatch(/^clouds:\n {2}rackseed-lab:\n {4}auth:\n/);
  });

  it('refuses to rewrite a file that is not YAML (CLI_ERR_CLOUDS_YAML), leaving it as it was', async () => {
    const file = join(tmp(), 'clouds.yaml');
    writeFileSync(file, 'clouds: [unclosed\n');
    await expect(
      writeCloud(file, 'rackseed-lab', { authUrl: 'http://x/identity', password: 'pw', cacert: undefined }),
    ).rejects.toThrow(CloudsYamlError);
    expect(readFileSync(file, 'utf8')).toBe('clouds: [unclosed\n');
  });
});
