import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../appliance/api/dashboard/web/units.js';

describe('formatBytes', () => {
  it('says bytes below 1 KiB, then IEC units with three significant digits', () => {
    expect([0, 1, 512, 1023].map(formatBytes)).toEqual(['0 B', '1 B', '512 B', '1023 B']);
    expect([1024, 1536, 10 * 1024, 100 * 1024].map(formatBytes)).toEqual([
      '1.00 KiB',
      '1.50 KiB',
      '10.0 KiB',
      '100 KiB',
    ]);
    expect(formatBytes(42 * 1024 ** 3)).toBe('42.0 GiB');
    expect(formatBytes(118 * 1024 ** 4)).toBe('118 TiB');
  });

  it('never prints 1024 of a unit: that is one of the next', () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe('1.00 MiB');
    expect(formatBytes(1024 ** 3 - 1)).toBe('1.00 GiB');
  });

  it('stops at EiB and reads a negative count (a counter gone wrong) as 0', () => {
    expect(formatBytes(2048 * 1024 ** 6)).toBe('2048 EiB');
    expect(formatBytes(-5)).toBe('0 B');
  });
});
