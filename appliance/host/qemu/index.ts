/**
 * appliance/host/qemu — QEMU without libvirt: QMP as a pure codec and session over a thin
 * unix-socket adapter, and the guest process (start daemonized, adopt, power-down, reset, kill,
 * a bounded console log).
 */
export {
  decodeQmpMessage,
  encodeQmpCommand,
  QmpDecoder,
  type QmpErrorReply,
  type QmpEvent,
  type QmpGreeting,
  type QmpMessage,
  type QmpReturn,
} from './qmp-codec.js';
export { QmpConnection } from './qmp-io.js';
export { QmpSession } from './qmp-session.js';
export {
  accelFor,
  QemuGuest,
  type QemuOptions,
  QemuRuntime,
  qemuArgs,
  socketPath,
  runFiles,
  tail,
  taggedDevices,
  trimLog,
} from './qemu.js';
