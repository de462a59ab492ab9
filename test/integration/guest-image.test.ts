import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { guestImage } from '../guest-image.js';

const BUILD = fileURLToPath(new URL('../../images/guest/build.sh', import.meta.url));

// `make guest-image` from Debian packages: the same inputs give the same bytes, within budget.
describe('the guest image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-guest-image-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is reproducible: a second build from the same inputs is byte for byte the same, and at most 64 MB', () => {
    const first = guestImage();
    execFileSync(BUILD, { env: { ...process.env, GUEST_IMAGE_OUT: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
    const second = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      image: { sha256: string; bytes: number };
    };
    expect(second.image.sha256).toBe(first.sha256);
    expect(second.image.bytes).toBe(first.bytes);
    expect(first.bytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    // A BIOS boots it: the boot signature ends its first sector.
    const sector = readFileSync(first.path).subarray(0, 512);
    expect([sector[510], sector[511]]).toEqual([0x55, 0xaa]);
  });
});
