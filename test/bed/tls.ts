// Node certificates for tests that start the product's TLS planes by hand (an agent, a DB
// master, a host service, a cluster node's API): a CA of the test's own, made once per
// directory, issuing as the cluster's CA does at enrollment (bootstrap/seed's
// issueNodeCertificate, and the API certificate for the same key).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueApiCertificate, NodeTls } from '../../agent/index.js';
import { issueNodeCertificate } from '../../bootstrap/seed/index.js';

/** A test CA in `dir/ca` (made on first use) and the node and API certificates of node `name` at `addresses`, in `dir/name`. */
export async function testNodeTls(
  dir: string,
  name: string,
  addresses: readonly string[] = ['127.0.0.1'],
): Promise<NodeTls> {
  const caDir = join(dir, 'ca');
  if (!existsSync(join(caDir, 'ca.crt'))) await createCa(caDir, 'rackseed test CA');
  const tls = new NodeTls(join(dir, name));
  const cert = await issueNodeCertificate(caDir, { name, addresses, publicKey: tls.publicKey() });
  const ca = readFileSync(join(caDir, 'ca.crt'), 'utf8');
  tls.store({ ca, cert });
  tls.storeApi({
    ca,
    cert: await issueApiCertificate(caDir, { hosts: addresses, publicKey: tls.publicKey(), days: 1 }),
  });
  return tls;
}
