import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';

/**
 * Makes `file` (it must not exist) `bytes` long and sparse, with `head` written at its start: a
 * disk that reads as zeros, and takes room only where something writes it (a lab server's disk,
 * a test's loop device or QEMU drive).
 */
export function sparseFile(file: string, bytes: number, head?: Buffer): string {
  const fd = openSync(file, 'wx');
  try {
    ftruncateSync(fd, bytes);
    if (head) writeSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return file;
}
