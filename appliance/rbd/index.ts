/**
 * appliance/rbd — RBD images for Glance images (raw, with a protected snapshot), servers' root
 * disks (copy-on-write clones in the `vms` pool) and server snapshots, through Debian's `rbd`
 * and `qemu-img` tools (why not librbd: see {@link Rbd}).
 */
export { RbdConvertError, RbdError, RbdHasChildrenError, RbdPoolFullError, RbdTooSmallError } from './errors.js';
export { RbdBootableImages } from './glance.js';
export { IMAGE_SNAPSHOT, Rbd, type RbdAccess, type RbdImageInfo, rootDiskName, stateImageName } from './rbd.js';
