import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { BlobStore } from '../blobs/index.js';
import type { ServerService } from '../compute/index.js';
import type { ApplicationCredential, CloudDb, Domain, Project, Role, Trust, User } from '../db/index.js';
import { ADMIN_PROJECT } from './bootstrap.js';
import { forbidden, unauthorized } from './faults.js';
import { accessAllowed } from './identity/access-rules.js';
import type { LoginLimits } from './identity/logins.js';
import { revokedByPasswordChange, type SecurityCompliance } from './identity/security-compliance.js';
import { scopeOf, type TokenClaims, type TokenService } from './identity/tokens.js';

/** What every API module is built from. */
/**
 * Glance's bootable copies (a cluster's): each raw or qcow2 image also becomes a raw RBD image
 * with a protected snapshot, which servers' root disks are cloned from.
 */
export interface BootableImages {
  /** Makes the image's bootable copy from its uploaded bytes (raw as is, qcow2 converted); its virtual size. */
  create(id: string, format: 'raw' | 'qcow2', bytes: () => Promise<Readable>): Promise<{ virtualSize: number }>;
  /**
   * Removes it (nothing to do if there is none); refuses with a RackseedError coded
   * `RBD_ERR_HAS_CHILDREN` while servers' disks are clones of it.
   */
  remove(id: string): Promise<void>;
  /** A server's root disk as it is now, as the new image `id`'s bootable copy (a server snapshot); its size. */
  snapshot(serverId: string, id: string): Promise<{ virtualSize: number }>;
  /** The raw bytes of image `id`'s bootable copy (a snapshot's only bytes), or null if it has none. */
  read(id: string): Promise<Readable | null>;
}

export interface ApiDeps {
  db: CloudDb;
  /** Keystone's credentials, their blobs sealed in `db` and in clear here (identity/credential-seal.ts). */
  credentials: CloudDb['credentials'];
  tokens: TokenService;
  /** Failed logins, limited per user and per source address. */
  logins: LoginLimits;
  /** Keystone's `[security_compliance]` settings in force. */
  securityCompliance: SecurityCompliance;
  servers: ServerService;
  blobs: BlobStore;
  /** A cluster's bootable copies of images (none in the embedded mode, whose servers are fake). */
  bootableImages?: BootableImages;
  /** The URL clients reach this API at, without a trailing slash (`https://127.0.0.1:5000`). */
  publicUrl: string;
  /** The region name in the catalog. */
  region: string;
}

/** Who is calling, from a validated token. */
export interface AuthContext {
  claims: TokenClaims;
  user: User;
  project: Project | null;
  /** The domain of a domain-scoped token. */
  domain: Domain | null;
  /** A system-scoped token (Keystone's `system: {all: true}`). */
  system: boolean;
  roles: Role[];
  /**
   * The admin role on the admin project ({@link ADMIN_PROJECT}, Keystone's `admin_project_name`),
   * on the system, or on the admin project's domain (Keystone's `cloud_admin` of its v3 cloud
   * policy sample): administers the whole cloud (every project, flavors, hypervisors, identity).
   * Only the cloud admin can grant any of the three.
   */
  isCloudAdmin: boolean;
  /** The admin role on the token's project: administers that project only (see {@link administers}). */
  isProjectAdmin: boolean;
  /** member or admin: may change things in its project. */
  canWrite: boolean;
  /**
   * The application credential the token was made from: its roles are the only ones the token
   * has, its access rules the only requests it may make.
   */
  applicationCredential: Omit<ApplicationCredential, 'secretHash'> | null;
  /**
   * The trust the token was made from (OS-TRUST): its project is the token's, its roles the
   * token's (those the trustor still holds); the user is its trustor if it impersonates, else
   * its trustee.
   */
  trust: Trust | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

/**
 * Resolves a token to its context: the user must still exist and be enabled, the project
 * too; roles are read now, so a revoked role takes effect at once. The signature and expiry are
 * checked here; revocation, user, project and roles come from one database read (one call to
 * the DB master), so that a revoked token is refused at once without a call per question.
 */
export async function resolveToken(deps: ApiDeps, token: string): Promise<AuthContext | null> {
  const claims = await deps.tokens.verifyExceptRevocation(token);
  if (!claims) return null;
  const subject = await deps.db.tokens.subject(claims.auditId, claims.userId, scopeOf(claims), {
    ...(claims.applicationCredentialId === undefined
      ? {}
      : { applicationCredentialId: claims.applicationCredentialId }),
    ...(claims.trustId === undefined ? {} : { trustId: claims.trustId }),
  });
  if (!subject) return null;
  // A trust's tokens end with it (Keystone finds no expired trust); its clock is the API's.
  const trustEnd = subject.trust?.expiresAt;
  if (trustEnd && Date.parse(trustEnd) <= deps.tokens.now()) return null;
  const { user, project, domain, roles } = subject;
  if (revokedByPasswordChange(user, claims.issuedAt)) return null;
  const names = new Set(roles.map((r) => r.name));
  const isAdmin = names.has('admin');
  // Keystone's is_admin_project: the token's project is the configured admin project, by name.
  const isAdminProject = project?.name === ADMIN_PROJECT.name && project.domainId === ADMIN_PROJECT.domainId;
  return {
    claims,
    user,
    project,
    domain,
    system: claims.system,
    roles,
    isCloudAdmin: isAdmin && (isAdminProject || claims.system || domain?.id === ADMIN_PROJECT.domainId),
    isProjectAdmin: isAdmin && project !== null,
    canWrite: project !== null && (isAdmin || names.has('member')),
    applicationCredential: subject.applicationCredential ?? null,
    trust: subject.trust ?? null,
  };
}

/**
 * A fastify `onRequest` hook that requires a valid token in `X-Auth-Token`, and one made from an
 * application credential with access rules to make only the requests they allow (as
 * keystonemiddleware in front of each OpenStack service, a 401).
 */
export function requireToken(deps: ApiDeps) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers['x-auth-token'];
    const token = Array.isArray(header) ? header[0] : header;
    if (!token) throw unauthorized();
    const auth = await resolveToken(deps, token);
    if (!auth) throw unauthorized('The request you have made requires authentication (invalid or expired token).');
    const rules = auth.applicationCredential?.accessRules ?? [];
    if (!accessAllowed(rules, request.method, request.url)) {
      throw unauthorized(
        'The request you have made requires authentication (no access rule of the application credential of this token allows it).',
      );
    }
    request.auth = auth;
  };
}

/** The caller's context (set by `requireToken`). */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw unauthorized();
  return request.auth;
}

/** The caller's project; project-scoped APIs need a project-scoped token. */
export function projectOf(request: FastifyRequest): { auth: AuthContext; project: Project } {
  const auth = authOf(request);
  if (!auth.project) throw forbidden('This API needs a project-scoped token.');
  return { auth, project: auth.project };
}

/** Throws 403 unless the caller may write (member or admin); readers only read. */
export function requireWriter(auth: AuthContext): void {
  if (!auth.canWrite) throw forbidden();
}

/** Throws 403 unless the caller is the cloud admin: admin-only APIs, and anything outside the caller's project. */
export function requireCloudAdmin(auth: AuthContext): void {
  if (!auth.isCloudAdmin) throw forbidden();
}

/** True when the caller administers project `projectId`: the cloud admin, or an admin of that very project. */
export function administers(auth: AuthContext, projectId: string): boolean {
  return auth.isCloudAdmin || (auth.isProjectAdmin && auth.project?.id === projectId);
}

/** Reads a string query parameter (the first, if repeated). */
export function queryString(request: FastifyRequest, name: string): string | undefined {
  const q = request.query as Record<string, string | string[] | undefined>;
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads every value of a repeated query parameter. */
export function queryAll(request: FastifyRequest, name: string): string[] {
  const q = request.query as Record<string, string | string[] | undefined>;
  const v = q[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** ISO 8601 with microseconds, as Keystone writes dates. */
export function keystoneTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** `YYYY-MM-DDThh:mm:ssZ`, as Nova writes dates. */
/** Nova's time as its database keeps it: microseconds, no zone (instance actions, migrations, launched_at). */
export function novaMicroTime(iso: string): string {
  return iso.replace(/Z$/, '').replace(/(\.\d{3})$/, '$1000');
}

export function novaTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}
