import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../agent/index.js';
import {
  copyImage,
  EtcdLeaseStore,
  hasImage,
  type NetbootImage,
  PROVISIONING_KEYS,
  publishProvisioning,
  readProvisioning,
  type ProvisioningRecord,
} from '../../bootstrap/seed/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';

// What lets the provisioner move (real etcd): its leases, its record and the node's image copy.
describe('provisioning state in the cluster', () => {
  let etcd: EtcdCluster;
  let store: Store;
  let dir: string;

  beforeAll(async () => {
    etcd = await startEtcd({ members: 1 });
    store = Store.connect([...etcd.endpoints]);
    dir = mkdtempSync(join(tmpdir(), 'rackseed-provisioning-'));
  });
  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps DHCP leases in etcd, one per MAC, for whichever node serves DHCP next', async () => {
    const leases = new EtcdLeaseStore(store);
    const expiresAt = Date.now() + 3_600_000;
    await leases.save({ mac: '52:54:00:00:00:01', ip: '10.9.0.100', expiresAt });
    await leases.save({ mac: '52:54:00:00:00:02', ip: '10.9.0.101', expiresAt });
    await leases.save({ mac: '52:54:00:00:00:02', ip: '10.9.0.102', expiresAt }); // replaced, not added
    await leases.remove('52:54:00:00:00:03'); // unknown: nothing to do
    const loaded = await new EtcdLeaseStore(store).load();
    expect(loaded.map((l) => [l.mac, l.ip]).sort()).toEqual([
      ['52:54:00:00:00:01', '10.9.0.100'],
      ['52:54:00:00:00:02', '10.9.0.102'],
    ]);

    await leases.remove('52:54:00:00:00:01');
    expect((await leases.load()).map((l) => l.mac)).toEqual(['52:54:00:00:00:02']);
  });

  it('keeps the provisioning record sealed: readable with the cluster key only', async () => {
    const key = randomBytes(32);
    const record = {
      cluster: { id: 'c', name: 'test' },
      ca: { certPem: 'CERT', keyPem: 'SECRET-CA-KEY', fingerprint: 'sha256:00' },
    } as unknown as ProvisioningRecord;
    await publishProvisioning(store, key, record);
    expect(await readProvisioning(store, key)).toEqual(record);
    const raw = (await store.get(PROVISIONING_KEYS.record))?.value ?? '';
    expect(raw).not.toContain('SECRET-CA-KEY');
    await expect(readProvisioning(store, randomBytes(32))).rejects.toMatchObject({ code: 'SECRET_ERR_UNSEAL_FAILED' });
  });

  describe('a node copies the image it may serve', () => {
    let server: Server;
    let url: string;
    const kernel = randomBytes(300_000);
    const initrd = randomBytes(700_000);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    let image: NetbootImage;

    beforeAll(async () => {
      const files: Record<string, Buffer> = { '/files/vmlinuz': kernel, '/files/initrd.img': initrd };
      server = createServer((req, res) => {
        const body = files[req.url ?? ''];
        if (!body) return void res.writeHead(404).end();
        res.end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/files/`;
      image = { kernel: 'vmlinuz', initrd: 'initrd.img', sha256: { vmlinuz: sha(kernel), 'initrd.img': sha(initrd) } };
    });
    afterAll(() => new Promise<void>((resolve) => server?.close(() => resolve())));

    it('copies each file whole and checks it against its sha256', async () => {
      const copy = join(dir, 'copy');
      expect(await hasImage(copy, image)).toBe(false);
      await copyImage(url, copy, image);
      expect(readFileSync(join(copy, 'initrd.img')).equals(initrd)).toBe(true);
      expect(await hasImage(copy, image)).toBe(true);
      writeFileSync(join(copy, 'vmlinuz'), kernel.subarray(1)); // torn
      expect(await hasImage(copy, image)).toBe(false);
    });

    it('refuses a file that is not the recorded one, and leaves no file under its name', async () => {
      const copy = join(dir, 'bad');
      const wrong = { ...image, sha256: { ...image.sha256, 'initrd.img': '0'.repeat(64) } };
      await expect(copyImage(url, copy, wrong)).rejects.toMatchObject({ code: 'PROVISION_ERR_IMAGE' });
      expect(readdirSync(copy)).toEqual(['vmlinuz']); // the good file stays; no part of the bad one
      await expect(copyImage(`${url}missing/`, join(dir, 'none'), image)).rejects.toMatchObject({
        code: 'PROVISION_ERR_IMAGE',
      });
    });
  });
});
