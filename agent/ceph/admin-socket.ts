import { connect } from 'node:net';
import { CephCommandError } from './cli.js';

/** A local daemon's answer comes at once; one that does not is stuck, and not waited for. */
const TIMEOUT_MS = 2_000;

/**
 * Asks a local Ceph daemon through its admin socket (`ceph daemon NAME …` without the `ceph`
 * CLI, which the netboot image does not have). Ceph's own protocol: the command's JSON ended
 * by a NUL byte, answered by a 32-bit big-endian length and that many bytes. No monitor quorum
 * is needed, which is the point: a monitor is asked to call an election while its quorum waits
 * on a dead peer. Throws {@link CephCommandError}, for a command the daemon refuses too.
 */
export function adminSocketCommand(socket: string, command: Readonly<Record<string, unknown>>): Promise<string> {
  const what = `admin socket ${socket}: ${String(command.prefix)}`;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const connection = connect(socket);
    const fail = (detail: string, cause?: unknown) => {
      connection.destroy();
      reject(new CephCommandError(what, detail, cause));
    };
    connection.setTimeout(TIMEOUT_MS, () => fail(`no answer in ${TIMEOUT_MS} ms`));
    connection.on('error', (error) => fail(error.message, error));
    connection.on('connect', () => connection.write(`${JSON.stringify(command)}\0`));
    connection.on('data', (chunk) => {
      chunks.push(chunk);
      const received = Buffer.concat(chunks);
      if (received.length < 4) return;
      const length = received.readUInt32BE(0);
      if (received.length < 4 + length) return;
      connection.destroy();
      const answer = received.subarray(4, 4 + length).toString('utf8');
      // A refused command is answered, not closed on: `ERROR: (22) Invalid argument\n…`.
      if (answer.startsWith('ERROR: '))
        reject(new CephCommandError(what, answer.slice(7).replace(/\n/g, ': '), undefined));
      else resolve(answer);
    });
    connection.on('end', () => fail('the daemon closed the socket before it answered'));
  });
}
