import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TftpDecodeError } from '../../../bootstrap/netboot/errors.js';
import { type TftpPacket, decodeTftp, encodeTftp } from '../../../bootstrap/netboot/tftp-codec.js';
import { ReadTransfer, negotiate, safeRelativePath } from '../../../bootstrap/netboot/tftp-session.js';

describe('TFTP codec', () => {
  it('round-trips every packet kind', () => {
    const packets: TftpPacket[] = [
      { op: 1, filename: 'a/b', mode: 'octet', options: new Map([['windowsize', '8']]) },
      { op: 3, block: 65535, data: Buffer.from('xyz') },
      { op: 4, block: 0 },
      { op: 5, code: 1, message: 'file not found' },
      { op: 6, options: new Map([['blksize', '1468']]) },
    ];
    for (const p of packets) expect(decodeTftp(encodeTftp(p))).toEqual(p);
  });

  it('property: random bytes decode or throw the typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
        try {
          decodeTftp(Buffer.from(a));
        } catch (error) {
          expect(error).toBeInstanceOf(TftpDecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('TFTP transfer logic', () => {
  it('negotiates blksize (capped), tsize, timeout and windowsize; ignores unknown options', () => {
    const p = negotiate(
      new Map([
        ['blksize', '65464'],
        ['tsize', '0'],
        ['windowsize', '16'],
        ['timeout', '3'],
        ['foo', '1'],
      ]),
      1234,
    );
    expect(p.blksize).toBe(1468);
    expect(p.timeoutMs).toBe(3000);
    expect(p.windowsize).toBe(16);
    expect([...p.oack]).toEqual([
      ['blksize', '1468'],
      ['timeout', '3'],
      ['tsize', '1234'],
      ['windowsize', '16'],
    ]);
    expect(negotiate(new Map(), 0).oack.size).toBe(0);
  });

  it('sends an OACK, then windows, resends from the last ACKed block after loss, ends with a short block', () => {
    const t = new ReadTransfer(10 * 512, negotiate(new Map([['windowsize', '4']]), 0));
    expect(t.totalBlocks).toBe(11); // 10 full blocks, then an empty one (RFC 1350 §6)
    expect(t.start()).toEqual({ kind: 'send', blocks: [], oack: true });
    expect(t.onAck(0)).toEqual({ kind: 'send', blocks: [1, 2, 3, 4], oack: false });
    expect(t.onAck(2)).toEqual({ kind: 'send', blocks: [3, 4, 5, 6], oack: false }); // 3 was lost
    expect(t.onAck(2)).toEqual({ kind: 'wait' }); // duplicate ACK: no Sorcerer's Apprentice
    expect(t.onTimeout()).toEqual({ kind: 'send', blocks: [3, 4, 5, 6], oack: false });
    expect(t.onAck(6)).toEqual({ kind: 'send', blocks: [7, 8, 9, 10], oack: false });
    expect(t.onAck(10)).toEqual({ kind: 'send', blocks: [11], oack: false });
    expect(t.onAck(11)).toEqual({ kind: 'done' });
  });

  it('wraps block numbers past 65535 and gives up after repeated timeouts', () => {
    const t = new ReadTransfer(70_000 * 8, negotiate(new Map([['blksize', '8']]), 0));
    t.onAck(0);
    for (let k = 1; k <= 65536; k++) t.onAck(k % 65536);
    expect(t.onAck(1)).toEqual({ kind: 'send', blocks: [65538], oack: false });
    for (let i = 0; i < 5; i++) expect(t.onTimeout().kind).toBe('send');
    expect(t.onTimeout().kind).toBe('abandon');
  });

  it('refuses path traversal and keeps names under the root', () => {
    expect(safeRelativePath('/undionly.kpxe')).toBe('undionly.kpxe');
    expect(safeRelativePath('a//./b')).toBe('a/b');
    for (const bad of ['../etc/passwd', 'a/../../x', '..', '', '/', 'a\\..\\b'])
      expect(safeRelativePath(bad)).toBeUndefined();
  });
});
