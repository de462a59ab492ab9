import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpConnection } from '../../appliance/host/qemu/index.js';
import { loadState, saveState } from '../../appliance/host/qemu/memory-state.js';
import { Scope, waitFor } from '../bed/index.js';

// The suspend and resume stream of appliance/host/qemu/memory-state.ts against real QEMUs with
// no disk (firmware only, a few seconds of TCG): the state out of one, into another started with
// `-incoming defer`, and a save whose sink fails, which must leave the guest running.
describe('a guest state saved out of QEMU and loaded into another', () => {
  let scope: Scope;
  beforeAll(() => {
    scope = Scope.open('qemu-memory-state');
  });
  afterAll(async () => scope?.close());

  /** A diskless QEMU under the same sandbox as the guests', its QMP connected. */
  async function qemu(name: string, incoming = false): Promise<QmpConnection> {
    const qmp = join(scope.dir, `${name}.qmp`);
    scope.spawn(name, [
      'qemu-system-x86_64',
      ...['-machine', 'pc', '-accel', 'tcg', '-m', '64', '-nodefaults', '-display', 'none'],
      ...['-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'],
      ...['-qmp', `unix:${qmp},server=on,wait=off`, ...(incoming ? ['-incoming', 'defer'] : [])],
    ]);
    await waitFor(`${name}'s QMP socket`, () => existsSync(qmp), 30_000, 50);
    return QmpConnection.open(qmp, () => {});
  }
  const status = async (qmp: QmpConnection) => (await qmp.execute<{ status: string }>('query-status')).status;
  const collect = async (stream: Readable, into: Buffer[]) => {
    for await (const chunk of stream) into.push(chunk as Buffer);
  };

  it('saves a running guest (left stopped, postmigrate) and runs it from that state in a new QEMU', async () => {
    const source = await qemu('source');
    const chunks: Buffer[] = [];
    await saveState(source, join(scope.dir, 'out.sock'), (stream) => collect(stream, chunks));
    expect(await status(source)).toBe('postmigrate');
    const state = Buffer.concat(chunks);
    // QEMU's migration stream: its magic "QEVM" and version 3.
    expect(state.subarray(0, 8).toString('hex')).toBe('5145564d00000003');
    const target = await qemu('target', true);
    expect(await status(target)).toBe('inmigrate');
    const { Readable } = await import('node:stream');
    await loadState(target, join(scope.dir, 'in.sock'), Readable.from([state]));
    expect(await status(target)).toBe('running');
    source.close();
    target.close();
  });

  it('refuses a truncated state with its coded error', async () => {
    const target = await qemu('truncated', true);
    const { Readable } = await import('node:stream');
    await expect(
      loadState(target, join(scope.dir, 'truncated.sock'), Readable.from([Buffer.from('QEVM\0\0\0\x03')])),
    ).rejects.toMatchObject({ code: 'QEMU_ERR_STATE' });
    target.close();
  });

  it('says why when the state could not be kept, and leaves the guest running as it was', async () => {
    const source = await qemu('kept-not');
    const full = new Error('the pool is full');
    await expect(
      saveState(source, join(scope.dir, 'fail.sock'), async (stream) => {
        for await (const _ of stream) throw full;
      }),
    ).rejects.toMatchObject({ code: 'QEMU_ERR_STATE', message: expect.stringContaining('the pool is full') });
    await waitFor('the guest running again', async () => (await status(source)) === 'running', 10_000, 100);
    source.close();
  });
});
