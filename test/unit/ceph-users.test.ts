import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CEPH_USERS,
  cephPaths,
  cephUserKeyring,
  ensureCephUsers,
  type MonCommand,
  newCephIdentity,
  renderCephConf,
} from '../../agent/index.js';

// The monitors as `ensureCephUsers` sees them: `auth get-or-create` answers a key (or refuses
// once, as for a user whose caps differ), `auth caps` sets them.
function monitors(options: { refuseOnce?: string } = {}) {
  const asked: MonCommand[] = [];
  let refuse = options.refuseOnce;
  const command = async (command: MonCommand): Promise<Buffer> => {
    asked.push(command);
    if (command.prefix === 'auth get-or-create' && command.entity === refuse) {
      refuse = undefined;
      throw new Error(`key for ${String(command.entity)} exists but cap mon does not match`);
    }
    if (command.prefix === 'auth caps') return Buffer.alloc(0);
    return Buffer.from(JSON.stringify([{ entity: command.entity, key: `AQ-${String(command.entity)}`, caps: {} }]));
  };
  return { asked, command };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rackseed-ceph-users-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the services’ cephx users', () => {
  it('each has a client name of its own and none has a wildcard cap but db on the OSDs (its fence barrier)', () => {
    const users = Object.values(CEPH_USERS);
    expect(new Set(users.map((u) => u.name)).size).toBe(users.length);
    for (const user of users) {
      const caps = user === CEPH_USERS.db ? { mon: user.caps.mon } : user.caps;
      expect(Object.values(caps).join(', ')).not.toMatch(/\*|allow rwx?(,|$)|\ball\b/);
    }
    expect(CEPH_USERS.db.caps.osd).toBe('allow *');
  });

  it('writes each keyring (0600) where the node’s ceph.conf finds it for that client', async () => {
    const { asked, command } = monitors();
    await ensureCephUsers(dir, command);
    expect(asked.map((c) => c.entity)).toEqual(Object.values(CEPH_USERS).map((u) => u.name));
    for (const user of Object.values(CEPH_USERS)) {
      const file = cephUserKeyring(dir, user);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^\\[${user.name}\\]\\n\\tkey = AQ-${user.name}\\n`));
    }
    // An empty cap is not given at all (the compute keeper reads no data).
    expect(asked.find((c) => c.entity === CEPH_USERS.compute.name)?.caps).toEqual(['mon', CEPH_USERS.compute.caps.mon]);
    // The conf's keyring line, with $cluster.$name as a client expands it, is that file.
    const conf = renderCephConf({
      identity: newCephIdentity(),
      node: 'h1',
      host: '10.0.0.10',
      monAddrs: ['v2:10.0.0.10:3300'],
      paths: cephPaths(dir),
    });
    const line = /^keyring = (.*)$/m.exec(conf)?.[1] ?? '';
    expect(line.replace('$cluster', 'ceph').replace('$name', CEPH_USERS.host.name)).toBe(
      cephUserKeyring(dir, CEPH_USERS.host),
    );
    expect(line.replace('$cluster', 'ceph').replace('$name', 'client.admin')).toBe(cephPaths(dir).adminKeyring);
  });

  it('asks nothing while the keyrings hold today’s caps, and sets them again once they do not', async () => {
    await ensureCephUsers(dir, monitors().command);
    const again = monitors();
    await ensureCephUsers(dir, again.command);
    expect(again.asked).toEqual([]);

    const file = cephUserKeyring(dir, CEPH_USERS.api);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/caps osd = .*\n/, 'caps osd = "allow *"\n'));
    const upgrade = monitors({ refuseOnce: CEPH_USERS.api.name });
    await ensureCephUsers(dir, upgrade.command);
    expect(upgrade.asked.map((c) => c.prefix)).toEqual(['auth get-or-create', 'auth caps', 'auth get-or-create']);
    expect(upgrade.asked[1]).toMatchObject({
      entity: CEPH_USERS.api.name,
      caps: Object.entries(CEPH_USERS.api.caps).flat(),
    });
    expect(readFileSync(file, 'utf8')).toContain(`caps osd = "${CEPH_USERS.api.caps.osd}"`);
  });
});
