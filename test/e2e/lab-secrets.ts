import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** Where a secret was found where it must not be. */
export interface SecretFinding {
  readonly secret: string;
  readonly where: string;
}

/**
 * The secrets a lab rack holds, read from where their owners keep them: the cluster key and
 * the admin password (the seed's identity), the API's credential key (each node's), every Ceph key (the keyrings the agents wrote),
 * every BMC's rotated password (the simulated BMCs' user store). Keyed by what they are.
 */
export function labSecrets(scopeDir: string): Map<string, string> {
  const secrets = new Map<string, string>();
  const clusterKey = readFileSync(join(scopeDir, 'seed', 'cluster', 'cluster.key'));
  secrets.set('the cluster key (base64)', clusterKey.toString('base64'));
  secrets.set('the cluster key (base64url)', clusterKey.toString('base64url'));
  secrets.set('the cluster key (hex)', clusterKey.toString('hex'));
  secrets.set('the admin password', readFileSync(join(scopeDir, 'seed', 'cluster', 'admin-password'), 'utf8').trim());
  for (const file of files(scopeDir)) {
    // The API's credential key, derived from the cluster key and written by each node's agent.
    if (file.endsWith('/api-credential.key'))
      secrets.set(`the credential key (${relative(scopeDir, file)})`, readFileSync(file, 'utf8').trim());
    if (file.endsWith('.keyring')) {
      for (const [, key] of readFileSync(file, 'utf8').matchAll(/key = (\S+)/g)) {
        if (key) secrets.set(`a Ceph key (${relative(scopeDir, file)})`, key);
      }
    }
    if (/\/sim-state\/.*\/users\.mc/.test(file)) {
      // ipmi_sim's persisted users: `N.passwd:d:<password, NUL-padded as \00>`.
      for (const [, password] of readFileSync(file, 'utf8').matchAll(/^\d+\.passwd:d:([^\\\n]+)/gm)) {
        if (password) secrets.set(`a BMC password (${relative(scopeDir, file)})`, password);
      }
    }
  }
  return secrets;
}

/**
 * Where the lab lets `secrets` (and any PEM private key) out: the argv and environment of any
 * process of this machine, any log file of the lab (a secret in a log is a leak whatever its
 * mode; a monitor's RocksDB write-ahead `.log` is its store, not a log), and any file of the lab that a user other than its owner could read (the file readable
 * by group or others, and every directory above it passable by them).
 */
export function secretLeaks(scopeDir: string, secrets: ReadonlyMap<string, string>): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const needles = [...secrets].map(([what, value]) => ({ what, bytes: Buffer.from(value) }));
  const scan = (read: Iterable<Buffer>, where: string, privateKeys: boolean) => {
    const found = new Set<string>();
    const overlap = 256; // longer than any secret: one cut between chunks cannot hide it
    let tail = Buffer.alloc(0);
    for (const chunk of read) {
      const data = Buffer.concat([tail, chunk]);
      for (const { what, bytes } of needles) if (data.includes(bytes)) found.add(what);
      if (privateKeys && data.includes('PRIVATE KEY-----')) found.add('a PEM private key');
      tail = data.subarray(Math.max(0, data.length - overlap));
    }
    for (const what of found) findings.push({ secret: what, where });
  };
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    for (const part of ['cmdline', 'environ']) {
      try {
        scan([readFileSync(`/proc/${pid}/${part}`)], `/proc/${pid}/${part}`, false);
      } catch {
        // gone meanwhile
      }
    }
  }
  for (const file of files(scopeDir)) {
    const where = relative(scopeDir, file);
    if (/\.log$/.test(file) && !file.includes('/store.db/')) scan(chunks(file), `${where} (a log)`, true);
    else if (readableByOthers(file))
      scan(chunks(file), `${where} (mode ${(statSync(file).mode & 0o777).toString(8)})`, true);
  }
  return findings;
}

/** `file`'s bytes, 16 MiB at a time (an OSD's block file is gigabytes). */
function* chunks(file: string): Generator<Buffer> {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(16 * 1024 * 1024);
    for (let n; (n = readSync(fd, buffer)) > 0;) yield Buffer.from(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** Whether a user other than the owner can read `file`: it grants read to group or others, and every directory above grants them passage. */
function readableByOthers(file: string): boolean {
  if ((statSync(file).mode & 0o044) === 0) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o011) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/** Every regular file under `dir` (not following links). */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((entry) => join(dir, entry))
    .filter((path) => {
      try {
        return lstatSync(path).isFile();
      } catch {
        return false;
      }
    });
}
