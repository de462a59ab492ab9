/**
 * Quantities as people read them. Free of the DOM so that `rackseed status` prints what the
 * dashboard shows.
 */

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** `n` bytes in IEC units, three significant digits past 1 KiB: `0 B`, `512 B`, `1.50 KiB`, `42.0 GiB`, `118 TiB`. */
export function formatBytes(n: number): string {
  let value = Math.max(0, n);
  let unit = 0;
  while (value >= 1024 && unit < IEC.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  // 1023.9 KiB rounds to "1024 KiB" at three digits; say 1.00 MiB instead.
  const digits = value < 10 ? 2 : value < 100 ? 1 : 0;
  const text = value.toFixed(digits);
  return text === '1024' && unit < IEC.length - 1 ? `1.00 ${IEC[unit + 1]}` : `${text} ${IEC[unit]}`;
}
