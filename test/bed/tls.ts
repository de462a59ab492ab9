// Node certificates for tests that start the product's TLS planes by hand (an agent, a DB
// master, a host service, a cluster node's API): a CA of the test's own, made once per
// directory, issuing as the cluster's CA does at enrollment (the node certificate, and the API
// certificate for the same key).
import { join } from 'node:path';
import { CertificateAuthority, NodeTls } from '../../agent/index.js';

/** The sealing key of test CAs (their key is sealed with a passphrase derived from it, as the product's). */
export const TEST_CLUSTER_KEY = Buffer.alloc(32, 7);

/** The test CA in `dir/ca`, made on first use. */
export function testCa(dir: string): Promise<CertificateAuthority> {
  return CertificateAuthority.ensure(join(dir, 'ca'), 'rackseed test CA', TEST_CLUSTER_KEY);
}

/** The node and API certificates of node `name` at `addresses` from the test CA of `dir`, in `dir/name`. */
export async function testNodeTls(
  dir: string,
  name: string,
  addresses: readonly string[] = ['127.0.0.1'],
): Promise<NodeTls> {
  const ca = await testCa(dir);
  const tls = new NodeTls(join(dir, name));
  const publicKey = tls.publicKey();
  tls.store({ ca: ca.certPem, cert: await ca.issueNode({ name, addresses, publicKey }) });
  tls.storeApi({ ca: ca.certPem, cert: await ca.issueApi({ hosts: addresses, publicKey, days: 1 }) });
  return tls;
}
