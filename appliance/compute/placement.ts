import type { HostCapacity } from '../db/index.js';
import type { HostInfo } from './driver.js';

/**
 * How much of a host's real inventory the scheduler hands out: Nova's defaults
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
    availabilityZone: h.availabilityZone ?? 'nova',
  }));
}
