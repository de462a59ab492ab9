import { PlacementConfigError } from './errors.js';
import { keys, PrefixView, type Store } from '../../agent/index.js';
import type { ComputeService, HostCapacity } from '../db/index.js';
import type { HostInfo } from './driver.js';

/**
 * How much of a host's real inventory the scheduler hands out, cluster-wide (etcd
 * `/rackseed/config/placement`, set with `rackseed compute placement`); Nova's defaults
 * (`initial_cpu_allocation_ratio` 4.0 since 2023.1, `initial_ram_allocation_ratio` 1.0,
 * `initial_disk_allocation_ratio` 1.0, `reserved_host_memory_mb` 512).
 */
export interface PlacementConfig {
  readonly cpuAllocationRatio: number;
  readonly ramAllocationRatio: number;
  readonly diskAllocationRatio: number;
  readonly reservedHostMemoryMb: number;
  readonly reservedHostDiskGb: number;
}

export const DEFAULT_PLACEMENT: PlacementConfig = {
  cpuAllocationRatio: 4.0,
  ramAllocationRatio: 1.0,
  diskAllocationRatio: 1.0,
  reservedHostMemoryMb: 512,
  reservedHostDiskGb: 0,
};

/** What each host can give servers, after the allocation ratios and what is reserved for the host itself. */
export function hostCapacities(
  hosts: readonly HostInfo[],
  config: PlacementConfig = DEFAULT_PLACEMENT,
): HostCapacity[] {
  return hosts.map((h) => ({
    host: h.hostname,
    vcpus: Math.floor(h.vcpus * config.cpuAllocationRatio),
    memoryMb: Math.floor((h.memoryMb - config.reservedHostMemoryMb) * config.ramAllocationRatio),
    diskGb: Math.floor((h.localGb - config.reservedHostDiskGb) * config.diskAllocationRatio),
  }));
}

/**
 * The hosts the scheduler may place a server on: not those whose `nova-compute` an admin
 * disabled or forced down (Nova's ComputeFilter). A host an admin forces with `zone:host`
 * bypasses this, as it bypasses Nova's filters.
 */
export function schedulableHosts(hosts: readonly HostInfo[], services: readonly ComputeService[]): HostInfo[] {
  const out = new Set(
    services.filter((s) => s.binary === 'nova-compute' && (s.disabled || s.forcedDown)).map((s) => s.host),
  );
  return hosts.filter((h) => !out.has(h.hostname));
}

/** The bounds of each setting: a ratio above 0 (Nova allows any; 1000 catches a typo), reserves from 0. */
const LIMITS: Record<keyof PlacementConfig, [number, number]> = {
  cpuAllocationRatio: [0.01, 1000],
  ramAllocationRatio: [0.01, 1000],
  diskAllocationRatio: [0.01, 1000],
  reservedHostMemoryMb: [0, 16 * 1024 * 1024],
  reservedHostDiskGb: [0, 1024 * 1024],
};

/** `change` over `base`, every field checked (PlacementConfigError names the first bad one). */
export function mergePlacement(base: PlacementConfig, change: Record<string, unknown>): PlacementConfig {
  const out: Record<string, number> = { ...base };
  for (const [field, value] of Object.entries(change)) {
    const limits = LIMITS[field as keyof PlacementConfig];
    if (!limits) throw new PlacementConfigError(`unknown placement setting ${field}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < limits[0] || value > limits[1]) {
      throw new PlacementConfigError(`${field} must be a number from ${limits[0]} to ${limits[1]}`);
    }
    out[field] = value;
  }
  return out as unknown as PlacementConfig;
}

/** The cluster's placement setting, followed live: Nova's defaults where it sets nothing. */
export async function watchPlacement(store: Store): Promise<{ current(): PlacementConfig; close(): Promise<void> }> {
  let current = DEFAULT_PLACEMENT;
  const read = (value: string | undefined) => {
    try {
      current = value
        ? mergePlacement(DEFAULT_PLACEMENT, JSON.parse(value) as Record<string, unknown>)
        : DEFAULT_PLACEMENT;
    } catch {
      // A bad record (written by hand) leaves the last good setting in force.
    }
  };
  const view = await PrefixView.open(store, keys.placement, (key, _previous, entry) => {
    if (key === keys.placement) read(entry?.value);
  });
  read(view.get('')?.value);
  return { current: () => current, close: () => view.close() };
}
