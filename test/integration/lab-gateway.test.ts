import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCloud } from '../../appliance/cli/clouds-yaml.js';
import { type LabGateway, startLabGateway } from '../../bootstrap/lab/index.js';
import { createNetworkLab, type Daemon, type NetworkLab, Scope, trusting, waitFor } from '../bed/index.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = [process.execPath, '--import', 'tsx', join(REPO, 'appliance/cli/main.ts')];

// The lab gateway with real parts: two namespaces run `rackseed cloud serve` (over one data
// dir, so they are one cloud) advertising the gateway's URL; a third namespace is cut off (a
// black hole) and a fourth has nothing listening (it refuses). Debian's `openstack` CLI on the
// host reaches the cloud through the gateway only: the namespaces are not reachable from here.
// TLS goes through unchanged: the clients check the cloud's certificate against its CA.
describe('lab gateway: the API of the nodes inside the lab, on the host', () => {
  let scope: Scope;
  let lab: NetworkLab;
  let gateway: LabGateway;
  const clouds = new Map<string, Daemon>();
  let env: NodeJS.ProcessEnv;
  let ca: string;
  const ipOf = (name: string) => lab.host(name).ip ?? '';

  const os = async (...args: string[]): Promise<string> =>
    (await run('openstack', ['--os-cloud', 'rackseed-lab', ...args], { env, timeout: 120_000 })).stdout;
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await os(...args, '-f', 'json')) as T;
  const relayLog = () => readFileSync(gateway.relay.logFile, 'utf8');

  beforeAll(async () => {
    scope = Scope.open('gateway-test');
    lab = await createNetworkLab({ hosts: ['a', 'b', 'hole', 'closed'], scope });
    const port = await scope.port();
    const url = `https://127.0.0.1:${port}`;
    const dataDir = join(scope.dir, 'cloud');
    ca = join(dataDir, 'tls', 'ca.crt');
    // One after the other: the first makes the database and the admin password, the second opens them.
    for (const name of ['a', 'b']) {
      const cloudsYaml = join(scope.dir, `${name}-clouds.yaml`);
      const daemon = lab.spawn(
        lab.host(name).netns,
        `cloud-${name}`,
        [
          ...CLI,
          'cloud',
          'serve',
          '--data-dir',
          dataDir,
          '--host',
          '0.0.0.0',
          '--port',
          '5000',
          '--public-url',
          url,
          '--clouds-yaml',
          cloudsYaml,
        ],
        { cwd: REPO },
      );
      clouds.set(name, daemon);
      // It writes its clouds.yaml once it listens.
      await waitFor(
        `cloud serve in ${name} (log: ${daemon.logFile})`,
        () => {
          if (!daemon.alive()) throw new Error(readFileSync(daemon.logFile, 'utf8'));
          return existsSync(cloudsYaml);
        },
        60_000,
        200,
      );
    }
    await lab.setLink('hole', 'down');
    gateway = await startLabGateway({
      scope,
      netns: lab.bridgeNetns,
      rackseed: CLI,
      backends: { static: ['a', 'hole', 'closed', 'b'].map((h) => ({ host: ipOf(h), port: 5000 })) },
      port,
      cwd: REPO,
    });
    const cloudsYaml = join(scope.dir, 'clouds.yaml');
    const password = readFileSync(join(dataDir, 'admin-password'), 'utf8').trim();
    await writeCloud(cloudsYaml, 'rackseed-lab', { authUrl: `${gateway.url}/identity`, password, cacert: ca });
    env = { ...process.env, OS_CLIENT_CONFIG_FILE: cloudsYaml };
  });

  afterAll(async () => {
    await lab?.destroy(); // closes the scope: clouds, gateway, namespaces, port
  });

  it('serves the openstack CLI: a token, flavors, and a catalog that names the gateway', async () => {
    const token = await json<{ id: string }>('token', 'issue');
    expect(token.id.length).toBeGreaterThan(20);
    await os('flavor', 'create', '--ram', '256', '--disk', '1', '--vcpus', '1', 'gw.flavor');
    for (let i = 0; i < 2; i++) {
      const flavors = await json<{ Name: string }[]>('flavor', 'list');
      expect(flavors.map((f) => f.Name)).toContain('gw.flavor');
    }
    const catalog = await json<{ Name: string; Endpoints: { url: string }[] | string }[]>('catalog', 'list');
    const text = JSON.stringify(catalog);
    expect(text).toContain(`${gateway.url}/compute`);
    expect(text).not.toContain(ipOf('a'));
    expect(text).not.toContain(ipOf('b'));
  });

  it('spread connections over both nodes and skipped the black hole and the refusing node', async () => {
    // Fresh connections (no keep-alive), enough to go round the four backends twice.
    for (let i = 0; i < 8; i++) {
      const { stdout } = await run('curl', [
        ...['-s', '--cacert', ca, '-o', '/dev/null', '-w', '%{http_code}'],
        `${gateway.url}/identity`,
      ]);
      expect(stdout).toBe('300');
    }
    const log = relayLog();
    expect(log).toMatch(new RegExp(`backend ${ipOf('hole').replace(/\./g, '\\.')}:5000 skipped: no answer within`));
    expect(log).toMatch(new RegExp(`backend ${ipOf('closed').replace(/\./g, '\\.')}:5000 skipped: .*ECONNREFUSED`));
    expect(log).not.toMatch(new RegExp(`backend ${ipOf('a').replace(/\./g, '\\.')}:5000 skipped`));
    expect(log).not.toMatch(new RegExp(`backend ${ipOf('b').replace(/\./g, '\\.')}:5000 skipped`));
    // Both nodes took connections: each closed one waits out TIME-WAIT on the side that closed first,
    // the relay's (its namespace) or, after a TLS client's close_notify, often the node's API.
    for (const h of ['a', 'b']) {
      const relaySide = await lab.exec(lab.bridgeNetns, ['ss', '-Htan', `dst ${ipOf(h)}:5000`]);
      const nodeSide = await lab.exec(lab.host(h).netns, ['ss', '-Htan', 'sport = :5000']);
      expect(relaySide.stdout + nodeSide.stdout).toMatch(/TIME-WAIT/);
    }
  });

  it('keeps answering through the other node when one is killed with -9', async () => {
    await clouds.get('a')?.stop(); // SIGKILL
    for (let i = 0; i < 3; i++) {
      const flavors = await json<{ Name: string }[]>('flavor', 'list');
      expect(flavors.map((f) => f.Name)).toContain('gw.flavor');
    }
    expect(relayLog()).toMatch(new RegExp(`backend ${ipOf('a').replace(/\./g, '\\.')}:5000 skipped: .*ECONNREFUSED`));
  });

  it('closes the connection when no node answers (it has no certificate to answer with), and goes on', async () => {
    await clouds.get('b')?.stop();
    const dispatcher = trusting(ca);
    await expect(fetch(`${gateway.url}/identity`, { dispatcher })).rejects.toThrow();
    await dispatcher.close();
    expect(relayLog()).toMatch(/no node of the cloud answers/);
    expect(gateway.relay.alive()).toBe(true);
    expect(gateway.listener.alive()).toBe(true);
  });

  it('closes the connection while the relay is gone, and the listener stays up', async () => {
    await gateway.relay.stop();
    const dispatcher = trusting(ca);
    await expect(fetch(`${gateway.url}/identity`, { dispatcher })).rejects.toThrow();
    await dispatcher.close();
    expect(readFileSync(gateway.listener.logFile, 'utf8')).toMatch(/relay .* does not answer/);
    expect(gateway.listener.alive()).toBe(true);
  });
});
