// Node certificates for tests that start the product's TLS planes by hand (an agent, a DB
// master, a host service): a CA of the test's own, made once per directory, issuing as the
// cluster's CA does (bootstrap/seed's ClusterCa).
import { join } from 'node:path';
import { NodeTls } from '../../agent/index.js';
import { ClusterCa } from '../../bootstrap/seed/index.js';

/** The cluster key of test CAs (their key is sealed with a passphrase derived from it, as the product's). */
export const TEST_CLUSTER_KEY = Buffer.alloc(32, 7);

/** The test CA in `dir/ca`, made on first use. */
export function testCa(dir: string): Promise<ClusterCa> {
  return ClusterCa.ensure(join(dir, 'ca'), 'rackseed test CA', TEST_CLUSTER_KEY);
}

/** The certificate of node `name` at `addresses` from the test CA of `dir`, in `dir/name`. */
export async function testNodeTls(
  dir: string,
  name: string,
  addresses: readonly string[] = ['127.0.0.1'],
): Promise<NodeTls> {
  const ca = await testCa(dir);
  const tls = new NodeTls(join(dir, name));
  tls.store({ ca: ca.certPem, cert: await ca.issueNode({ name, addresses, publicKey: tls.publicKey() }) });
  return tls;
}
