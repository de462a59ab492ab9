import { describe, expect, it } from 'vitest';
import {
  type CephClientOptions,
  type CephConnect,
  type CephMonConnection,
  CephMonitors,
  MON_TIMEOUT_SECONDS,
  type MonCommand,
} from '../../agent/index.js';

/**
 * A scripted monitor client (the real one, librados, is exercised by test/integration/rados.test.ts
 * and the agent's Ceph tests): records connections, and answers each command as `answer` says.
 */
function scripted(answer: (command: MonCommand, input: Buffer | undefined) => Promise<Buffer>) {
  const connections: { options: CephClientOptions; closed: boolean; calls: number }[] = [];
  const connect: CephConnect = async (options) => {
    const record = { options, closed: false, calls: 0 };
    connections.push(record);
    const connection: CephMonConnection = {
      command: (command, input) => {
        if (record.closed) throw new Error('used after close');
        record.calls++;
        return answer(command, input);
      },
      close: async () => {
        record.closed = true;
      },
    };
    return connection;
  };
  return { connect, connections };
}

const admin = { conf: '/c/ceph.conf', keyring: '/c/admin.keyring' };

describe('CephMonitors: how the agent asks the monitors', () => {
  it('connects once, lazily, as client.admin with bounded timeouts, and reuses the connection', async () => {
    const { connect, connections } = scripted(async (c) => Buffer.from(String(c.prefix)));
    const monitors = new CephMonitors(connect, admin);
    expect(connections).toHaveLength(0);
    expect((await monitors.command({ prefix: 'status' })).toString()).toBe('status');
    expect((await monitors.command({ prefix: 'osd dump' })).toString()).toBe('osd dump');
    expect(connections).toHaveLength(1);
    expect(connections[0]?.options).toEqual({
      ...admin,
      clientName: 'client.admin',
      timeoutSeconds: MON_TIMEOUT_SECONDS,
    });
    await monitors.close();
    expect(connections[0]?.closed).toBe(true);
  });

  it('passes the input buffer through', async () => {
    const { connect } = scripted(async (_c, input) => input ?? Buffer.from('none'));
    const monitors = new CephMonitors(connect, admin);
    expect((await monitors.command({ prefix: 'osd new' }, Buffer.from('secret'))).toString()).toBe('secret');
    await monitors.close();
  });

  it("fails with CEPH_ERR_COMMAND carrying the monitor's text, and makes a new connection after a failure", async () => {
    let fail = true;
    const { connect, connections } = scripted(async () => {
      if (fail) throw new Error("monCommand: Invalid argument (Error ENOENT: unrecognized pool 'x')");
      return Buffer.from('ok');
    });
    const monitors = new CephMonitors(connect, admin);
    const error = await monitors.command({ prefix: 'osd pool set', pool: 'x' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CEPH_ERR_COMMAND', retryable: true });
    expect((error as Error).message).toBe(
      `ceph osd pool set {"pool":"x"} failed: monCommand: Invalid argument (Error ENOENT: unrecognized pool 'x')`,
    );
    fail = false;
    expect((await monitors.command({ prefix: 'status' })).toString()).toBe('ok');
    expect(connections).toHaveLength(2);
    expect(connections[0]?.closed).toBe(true);
    expect(connections[1]?.closed).toBe(false);
    await monitors.close();
  });

  it('a failed connect fails the command, and the next command connects again', async () => {
    let attempts = 0;
    const monitors = new CephMonitors(async () => {
      attempts++;
      if (attempts === 1) throw new Error('connect: Connection timed out');
      return { command: async () => Buffer.from('ok'), close: async () => {} };
    }, admin);
    await expect(monitors.command({ prefix: 'status' })).rejects.toMatchObject({
      code: 'CEPH_ERR_COMMAND',
      message: 'ceph status failed: connect: Connection timed out',
    });
    expect((await monitors.command({ prefix: 'status' })).toString()).toBe('ok');
    expect(attempts).toBe(2);
    await monitors.close();
  });

  it('closes a connection only once the commands on it have settled, and refuses commands once closed', async () => {
    let release: (value: Buffer) => void = () => {};
    const { connect, connections } = scripted(() => new Promise<Buffer>((resolve) => (release = resolve)));
    const monitors = new CephMonitors(connect, admin);
    const pending = monitors.command({ prefix: 'status' });
    await new Promise((resolve) => setImmediate(resolve));
    let closed = false;
    const closing = monitors.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    expect(connections[0]?.closed).toBe(false);
    release(Buffer.from('late'));
    expect((await pending).toString()).toBe('late');
    await closing;
    expect(connections[0]?.closed).toBe(true);
    await expect(monitors.command({ prefix: 'status' })).rejects.toMatchObject({ code: 'CEPH_ERR_COMMAND' });
    expect(connections).toHaveLength(1);
  });

  it('sends a command as another client on a connection of its own, closed after it', async () => {
    const { connect, connections } = scripted(async () => Buffer.from('{"osdid":0}'));
    const monitors = new CephMonitors(connect, admin);
    await monitors.commandAs(
      { name: 'client.bootstrap-osd', keyring: '/c/bootstrap-osd.keyring' },
      { prefix: 'osd new' },
    );
    await monitors.close();
    expect(connections).toHaveLength(1);
    expect(connections[0]).toMatchObject({
      options: { conf: admin.conf, keyring: '/c/bootstrap-osd.keyring', clientName: 'client.bootstrap-osd' },
      closed: true,
    });
  });
});
