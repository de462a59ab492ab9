import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scope, waitFor } from '../bed/index.js';
import { type NetbootLab, startNetbootLab } from '../integration/netboot-lab.js';
import { usbImage } from './netboot-image.js';

// The USB seed image (images/usb/build.sh) boots under QEMU (TCG) by BIOS (SeaBIOS) and by UEFI
// (OVMF): GRUB's entry, the kernel, /init in seed mode, `rackseed seed`. Neither guest has a
// network: under BIOS eth0 is a NIC with no peer (nothing leaves the guest), so the seed gets as
// far as its identity; under UEFI there is no NIC, so the seed stops with its coded error. On a
// network where a provisioner answers, the seed joins that cluster as a node instead.
describe('USB seed image', () => {
  let scope: Scope;
  let image = '';

  beforeAll(() => {
    image = usbImage();
    scope = Scope.open('usb-image');
  });
  afterAll(async () => {
    await scope?.close();
  });

  /** Boots the image in QEMU (in `netns`, if given) until its serial console matches `until`. */
  async function boot(name: string, args: readonly string[], until: RegExp, netns?: string): Promise<string> {
    const serial = join(scope.dir, `${name}.serial`);
    writeFileSync(serial, '');
    const qemu = scope.spawn(name, [
      ...(netns ? ['ip', 'netns', 'exec', netns] : []),
      'qemu-system-x86_64',
      ...['-m', '1536', '-smp', '2', '-nodefaults', '-nographic', '-monitor', 'none', '-no-reboot'],
      ...['-serial', `file:${serial}`, '-drive', `file=${image},format=raw,snapshot=on`],
      ...args,
    ]);
    try {
      return await waitFor(
        `${until.source} on ${name}'s serial console`,
        () => {
          const text = readFileSync(serial, 'utf8');
          if (until.test(text)) return text;
          if (!qemu.alive()) throw new Error(`QEMU exited: ${text.slice(-800)}`);
          return undefined;
        },
        420_000, // TCG on 2 shared cores: the BIOS boot took 3–4 min when other tests ran beside it
        1_000,
      );
    } finally {
      await qemu.stop(0);
    }
  }

  it('boots by BIOS through GRUB into the seed, which creates the cluster identity and serves netboot', async () => {
    const text = await boot(
      'bios',
      ['-machine', 'pc,accel=tcg', '-device', 'virtio-net-pci'],
      /provisioner\.ready[^\n]*\n/,
    );
    expect(text).toContain('GRUB loading');
    expect(text).toContain('rackseed-usb: booting the seed');
    expect(text).toMatch(/Linux version 6\.\S+-cloud-amd64/);
    expect(text).toMatch(/Kernel command line: .*rackseed\.role=seed rackseed\.address=10\.99\.0\.1\/24/);
    expect(text).toContain('rackseed-seed: starting the seed (eth0 10.99.0.1/24)');
    expect(text).toMatch(/ seed\s+seed\.identity {2}cluster rackseed [0-9a-f-]+, CA sha256:[0-9a-f]{64}/);
    expect(text).toMatch(
      / -\s+provisioner\.ready {2}DHCP, TFTP and HTTP boot on eth0 for 10\.99\.0\.0\/24, enrollment at https:\/\/10\.99\.0\.1:8443/,
    );
    expect(text).not.toMatch(/error [A-Z_]+:/);
  });

  it('joins as a node where a provisioner answers already: its boot script gives it the enrollment parameters', async () => {
    // `rackseed netboot serve` stands in for the cluster's provisioner; its boot scripts name an
    // enrollment endpoint nobody serves, so the node stops at enrollment and says so.
    let nb: NetbootLab | undefined;
    try {
      const port = 18443;
      // The image's seed.yaml provisions 10.99.0.0/24: the server answers there, as its cluster's would.
      nb = await startNetbootLab({
        hosts: 1,
        subnet: '10.99.0.0/24',
        extraArgs: [
          '--cmdline',
          `console=ttyS0 rackseed.enroll=https://10.255.255.1:${port}/enroll rackseed.ca=${'0'.repeat(64)} rackseed.ca-url=http://10.255.255.1:${port}/ca.pem`,
        ],
      });
      const lab = nb.lab;
      await lab.exec(lab.bridgeNetns, ['ip', 'tuntap', 'add', 'dev', 'usb0', 'mode', 'tap']);
      await lab.exec(lab.bridgeNetns, ['ip', 'link', 'set', 'usb0', 'master', 'br0', 'up']);
      const mac = '52:54:00:75:73:62';
      const uuid = '7573622d-7365-6564-2d6a-6f696e696e67';
      const text = await boot(
        'join',
        [
          ...['-machine', 'pc,accel=tcg', '-netdev', 'tap,id=n0,ifname=usb0,script=no,downscript=no'],
          ...['-device', `virtio-net-pci,netdev=n0,mac=${mac}`, '-uuid', uuid],
        ],
        /cannot reach the seed/,
        lab.bridgeNetns,
      );
      expect(text).toContain(`error SEED_ERR_NETWORK_TAKEN: a DHCP server already answers`);
      expect(text).toContain('rackseed-seed: this network has a provisioner: joining its cluster as a node');
      expect(text).toContain(`rackseed-seed: boot script http://${nb.serverIp}:`);
      expect(text).toContain(`/boot/${mac.replaceAll(':', '-')}.ipxe read`);
      // The provisioner leased it an address and served it its own script (its token with it).
      const events = nb.events().filter((e) => e.mac === mac);
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['dhcp.ack', 'http.script']));
      expect(text).toContain(
        `rackseed-image: eth0 ${mac} has ${events.find((e) => e.type === 'dhcp.ack')?.ip}, SMBIOS UUID ${uuid}`,
      );
    } finally {
      await nb?.destroy();
    }
  });

  it('boots by UEFI (OVMF) the same way; with no NIC the seed stops with its coded error', async () => {
    const vars = join(scope.dir, 'ovmf-vars.fd');
    copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    const text = await boot(
      'uefi',
      [
        ...['-machine', 'q35,accel=tcg', '-nic', 'none'],
        ...['-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd'],
        ...['-drive', `if=pflash,format=raw,unit=1,file=${vars}`],
      ],
      /rackseed-seed: the seed exited \(\d+\)/,
    );
    expect(text).toContain('rackseed-usb: booting the seed');
    expect(text).toMatch(/Linux version 6\.\S+-cloud-amd64/);
    expect(text).toMatch(/efi: EFI v\d/);
    expect(text).toContain('rackseed-seed: starting the seed (no eth0)');
    expect(text).toContain('error NETBOOT_ERR_NO_INTERFACE: no interface eth0 here');
    expect(text).toContain('rackseed-seed: the seed exited (1)');
  });
});
