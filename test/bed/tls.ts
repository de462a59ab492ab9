// Node certificates for tests that start the product's TLS planes by hand (an agent, a DB
// master, a host service): a CA of the test's own, made once per directory, issuing as the
// cluster's CA does (bootstrap/seed's issueNodeCertificate).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeTls } from '../../agent/index.js';
import { createCa, issueNodeCertificate } from '../../bootstrap/seed/index.js';

/** A test CA in `dir/ca` (made on first use) and the certificate of node `name` at `addresses`, in `dir/name`. */
export async function testNodeTls(
  dir: string,
  name: string,
  addresses: readonly string[] = ['127.0.0.1'],
): Promise<NodeTls> {
  const caDir = join(dir, 'ca');
  if (!existsSync(join(caDir, 'ca.crt'))) await createCa(caDir, 'rackseed test CA');
  const tls = new NodeTls(join(dir, name));
  const cert = await issueNodeCertificate(caDir, { name, addresses, publicKey: tls.publicKey() });
  tls.store({ ca: readFileSync(join(caDir, 'ca.crt'), 'utf8'), cert });
  return tls;
}
