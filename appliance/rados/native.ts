import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { RadosNotBuiltError } from './errors.js';

/** What appliance/rados/native/rados.cc exports; every method returns a Promise. */
export interface NativeAddon {
  Cluster: new () => NativeCluster;
  libradosVersion: string;
}

export interface NativeCluster {
  connect(
    conf: string | undefined,
    keyring: string | undefined,
    clientName: string,
    options: Record<string, string>,
  ): Promise<void>;
  shutdown(): Promise<void>;
  poolCreate(pool: string): Promise<void>;
  poolDelete(pool: string): Promise<void>;
  poolList(): Promise<string[]>;
  monCommand(json: string, inbuf?: Buffer): Promise<{ outbuf: Buffer; outs: string }>;
  osdCommand(osd: number, json: string): Promise<{ outbuf: Buffer; outs: string }>;
  addresses(): Promise<string>;
  instanceId(): Promise<bigint>;
  waitForLatestOsdmap(): Promise<void>;
  openIoctx(pool: string, namespace: string): Promise<NativeIoCtx>;
}

export interface NativeLockOptions {
  exclusive: boolean;
  tag: string;
  description: string;
  durationMs: number;
  renew: boolean;
}

export interface NativeIoCtx {
  writeFull(oid: string, data: Buffer): Promise<void>;
  write(oid: string, data: Buffer, offset: number): Promise<void>;
  append(oid: string, data: Buffer): Promise<void>;
  read(oid: string, length: number, offset: number): Promise<Buffer>;
  stat(oid: string): Promise<{ size: number; mtime: number }>;
  remove(oid: string): Promise<void>;
  list(allNamespaces: boolean): Promise<{ oid: string; namespace: string }[]>;
  getXattr(oid: string, name: string): Promise<Buffer>;
  setXattr(oid: string, name: string, value: Buffer): Promise<void>;
  rmXattr(oid: string, name: string): Promise<void>;
  getXattrs(oid: string): Promise<Record<string, Buffer>>;
  lock(oid: string, name: string, cookie: string, options: NativeLockOptions): Promise<void>;
  unlock(oid: string, name: string, cookie: string): Promise<void>;
  breakLock(oid: string, name: string, client: string, cookie: string): Promise<void>;
  listLockers(
    oid: string,
    name: string,
  ): Promise<{ exclusive: boolean; tag: string; lockers: { client: string; cookie: string; address: string }[] }>;
  close(): Promise<void>;
}

// From the sources (appliance/rados/) and from the compiled tree (dist/appliance/rados/).
const CANDIDATES = ['./native/build/Release/rados.node', '../../../appliance/rados/native/build/Release/rados.node'];

let loaded: NativeAddon | undefined;

/** Loads the compiled addon once (lazily, so that importing this module never needs it). */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const paths = CANDIDATES.map((c) => fileURLToPath(new URL(c, import.meta.url)));
  const path = paths.find((p) => existsSync(p));
  try {
    if (!path) throw new Error('not found');
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
    return loaded;
  } catch (error) {
    throw new RadosNotBuiltError(paths, error);
  }
}
