/**
 * The seed: the first server's job. It creates the cluster's identity, takes charge of the
 * BMCs it finds (GUID, FRU, a fresh password each), powers their servers on to netboot, and
 * enrolls them as nodes.
 */
export { type ClusterIdentity, certificateFingerprint, ensureIdentity, ensureNodeCertificate } from './identity.js';
export { type CertificateEvent, CertificateKeeper, recordCertificate } from './certificate-keeper.js';
export {
  ENROLL_KEYS,
  Enrollment,
  EnrollmentError,
  type EnrollmentOutcome,
  HOLD_TTL_MS,
  type InventoryRecord,
  nodeName,
  TOKEN_TTL_MS,
} from './enrollment.js';
export {
  enroll,
  EnrollClientError,
  type EnrollmentGrant,
  type EnrollmentServer,
  startEnrollmentServer,
} from './enroll-http.js';
export {
  type BmcCredential,
  type BmcCredentialStore,
  newBmcPassword,
  OnboardError,
  type OnboardEvent,
  type OnboardedServer,
  onboardBmc,
  onboardBmcs,
  powerOnForNetboot,
} from './onboard.js';
export { runSeed, type Seed, type SeedConfig, SeedError, type SeedEvent } from './seed.js';
export { bootNode, type CloudServices, machineGuid, NodeBootError, parseBootCmdline } from './node-boot.js';
export {
  copyImage,
  EtcdLeaseStore,
  hasImage,
  type NetbootImage,
  PROVISIONING_KEYS,
  ProvisioningError,
  type ProvisioningRecord,
  publishProvisioning,
  readProvisioning,
} from './provisioning.js';
