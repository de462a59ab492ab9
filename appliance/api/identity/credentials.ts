import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Credential } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireToken } from '../context.js';
import { badRequest, forbidden, notFound, unauthorized } from '../faults.js';
import { requireUnrestricted } from './application-credentials.js';
import { extraOf, isObject, type Json, need, objectField } from './body.js';
import { collectionLinks, newId, selfLink } from './views.js';

const FIELDS = ['id', 'user_id', 'project_id', 'type', 'blob', 'links'];
const EC2 = 'ec2';
/** What an EC2 credential's blob may carry that no update may change (Keystone's `_validate_blob_update_keys`). */
const FIXED_BLOB_KEYS = ['trust_id', 'app_cred_id', 'access_token_id', 'access_id'];

/** Keystone's id of an EC2 credential: the SHA-256 of its access key, in hex (keystone.common.utils.hash_access_key). */
export const ec2CredentialId = (access: string): string => createHash('sha256').update(access, 'utf8').digest('hex');

const isEc2 = (type: string) => type.toLowerCase() === EC2;

/** An EC2 credential's blob: a JSON object with an access key (400 otherwise, as Keystone's `_validate_blob_json`). */
function ec2Blob(blob: string): Json & { access: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    throw badRequest('Invalid blob in credential');
  }
  if (!isObject(parsed) || Object.keys(parsed).length === 0) throw badRequest('Expecting to find blob in credential');
  if (parsed.access === undefined || parsed.access === null) throw badRequest('Expecting to find access in credential');
  if (typeof parsed.access !== 'string') throw badRequest("Invalid input for field 'access': not a string");
  return parsed as Json & { access: string };
}

/** A stored blob read back, whatever it holds (an EC2 view of a credential written with another type). */
function blobFields(blob: string): Json {
  try {
    const parsed: unknown = JSON.parse(blob);
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** The fields of a credential body, typed as Keystone's schema types them; absent ones undefined. */
function credentialFields(body: Json) {
  const text = (key: string): string | undefined => {
    const value = body[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw badRequest(`Invalid input for field '${key}': not a string`);
    return value;
  };
  const projectId = body.project_id;
  if (projectId !== undefined && projectId !== null && typeof projectId !== 'string') {
    throw badRequest("Invalid input for field 'project_id': not a string or null");
  }
  return {
    userId: text('user_id'),
    type: text('type'),
    blob: text('blob'),
    projectId: projectId as string | null | undefined,
  };
}

/** The caller may act on `userId`'s credentials: its owner, or the cloud admin (Keystone's ADMIN_OR_CRED_OWNER). */
function mayOwn(me: AuthContext, userId: string | undefined): boolean {
  return me.isCloudAdmin || userId === me.user.id;
}

/**
 * Keystone's `/v3/credentials` and the EC2 credentials of `/v3/users/{id}/credentials/OS-EC2`,
 * one store: an EC2 credential is a credential of type `ec2` whose id is the SHA-256 of its
 * access key. As Keystone's default policy, the cloud admin sees and changes all, a user their
 * own (making or deleting an EC2 key pair needs a member's token too); anyone else's is a 403,
 * and so is one that does not exist, which tells nothing of it.
 */
export async function credentialRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;

  const credentialView = (c: Credential) => ({
    ...c.extra,
    id: c.id,
    user_id: c.userId,
    project_id: c.projectId,
    type: c.type,
    blob: c.blob,
    links: selfLink(deps, `credentials/${c.id}`),
  });
  const ec2View = (c: Credential) => {
    const blob = blobFields(c.blob);
    return {
      user_id: c.userId,
      tenant_id: c.projectId,
      access: blob.access ?? null,
      secret: blob.secret ?? null,
      trust_id: blob.trust_id ?? null,
      links: selfLink(deps, `users/${c.userId}/credentials/OS-EC2/${String(blob.access)}`),
    };
  };

  /** A credential the caller may see: 403 for someone else's or none, then 404 for none (to the cloud admin). */
  const visible = async (request: FastifyRequest, id: string): Promise<Credential> => {
    const found = await deps.credentials.get(id);
    if (!mayOwn(authOf(request), found?.userId)) throw forbidden();
    return need(found, 'credential', id);
  };
  /** A credential's owner and project must exist: a body naming others is the client's error. */
  const checkRefs = async (userId: string, projectId: string | null) => {
    if (!(await db.users.get(userId))) throw badRequest(`Could not find user: ${userId}.`);
    if (projectId !== null && !(await db.projects.get(projectId))) {
      throw badRequest(`Could not find project: ${projectId}.`);
    }
  };

  app.get('/v3/credentials', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const found = await deps.credentials.list({
      userId: queryString(request, 'user_id'),
      type: queryString(request, 'type'),
    });
    return {
      credentials: found.filter((c) => mayOwn(me, c.userId)).map(credentialView),
      links: collectionLinks(deps, request),
    };
  });

  app.post('/v3/credentials', { onRequest: auth }, async (request, reply) => {
    const body = objectField(request.body, 'credential');
    const f = credentialFields(body);
    if (f.userId === undefined || f.type === undefined || f.blob === undefined) {
      throw badRequest("'blob', 'type' and 'user_id' are required properties");
    }
    if (isEc2(f.type) && (f.projectId === undefined || f.projectId === null)) {
      throw badRequest("'project_id' is a required property of an ec2 credential");
    }
    if (!mayOwn(authOf(request), f.userId)) throw forbidden();
    // A restricted application credential's token makes no EC2 key pair (Keystone's).
    if (isEc2(f.type)) requireUnrestricted(authOf(request), 'credentials');
    const projectId = f.projectId ?? null;
    const id = isEc2(f.type) ? ec2CredentialId(ec2Blob(f.blob).access) : newId();
    await checkRefs(f.userId, projectId);
    const created = await deps.credentials.create({
      id,
      userId: f.userId,
      projectId,
      type: f.type,
      blob: f.blob,
      extra: extraOf(body, FIELDS),
    });
    return reply.code(201).send({ credential: credentialView(created) });
  });

  app.get('/v3/credentials/:id', { onRequest: auth }, async (request) => ({
    credential: credentialView(await visible(request, (request.params as { id: string }).id)),
  }));

  app.patch('/v3/credentials/:id', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    const body = objectField(request.body, 'credential');
    if (Object.keys(body).length === 0) throw badRequest('The credential to update has no properties');
    const f = credentialFields(body);
    const before = await visible(request, id);
    if (body.id !== undefined && body.id !== id) throw badRequest('Cannot change ID');
    const after = {
      userId: f.userId ?? before.userId,
      projectId: f.projectId === undefined ? before.projectId : f.projectId,
      type: f.type ?? before.type,
      blob: f.blob ?? before.blob,
    };
    if (isEc2(before.type) && f.blob !== undefined) {
      const old = blobFields(before.blob);
      const next = ec2Blob(f.blob);
      const changed = FIXED_BLOB_KEYS.find((key) => (old[key] ?? null) !== (next[key] ?? null));
      if (changed) throw badRequest(`${changed} can not be updated for credential`);
    }
    if (isEc2(after.type)) {
      if (f.blob !== undefined || f.type !== undefined) ec2Blob(after.blob);
      if (after.projectId === null) throw badRequest("'project_id' is a required property of an ec2 credential");
    }
    // The owner may not give their credential away (Keystone checks the policy on the result too).
    if (!mayOwn(authOf(request), after.userId)) throw forbidden();
    await checkRefs(after.userId, after.projectId);
    const updated = await deps.credentials.update(id, {
      ...after,
      extra: { ...before.extra, ...extraOf(body, FIELDS) },
    });
    return { credential: credentialView(updated) };
  });

  app.delete('/v3/credentials/:id', { onRequest: auth }, async (request, reply) => {
    const { id } = request.params as { id: string };
    await visible(request, id);
    await deps.credentials.delete(id);
    return reply.code(204).send();
  });

  // EC2 credentials (Keystone's OS-EC2 resources of users.py).
  const user = async (id: string) => need(await db.users.get(id), 'user', id);
  /**
   * The EC2 credential of access key `access` of user `userId`, if the caller may act on it
   * (`member`: they must hold a role that writes). Keystone finds the credential before its
   * policy check, so an unknown key is a 404 to anyone.
   */
  const ec2Credential = async (request: FastifyRequest, userId: string, access: string, member: boolean) => {
    const id = ec2CredentialId(access);
    const found = need(await deps.credentials.get(id), 'credential', id);
    const me = authOf(request);
    if (!me.isCloudAdmin && (found.userId !== me.user.id || (member && !me.canWrite))) throw forbidden();
    await user(userId);
    if (found.type !== EC2) throw unauthorized('EC2 access key not found.');
    // Keystone does not compare the owner with the path's user; a key is only found under its own.
    if (found.userId !== userId) throw notFound(`Could not find credential: ${id}.`);
    return found;
  };

  app.get('/v3/users/:id/credentials/OS-EC2', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    if (!mayOwn(authOf(request), id)) throw forbidden();
    await user(id);
    const found = await deps.credentials.list({ userId: id, type: EC2 });
    return { credentials: found.map(ec2View), links: collectionLinks(deps, request) };
  });

  app.post('/v3/users/:id/credentials/OS-EC2', { onRequest: auth }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const me = authOf(request);
    if (!me.isCloudAdmin && (id !== me.user.id || !me.canWrite)) throw forbidden();
    requireUnrestricted(me, 'credentials');
    await user(id);
    const body = isObject(request.body) ? request.body : {};
    const tenantId = body.tenant_id;
    if (typeof tenantId !== 'string') throw badRequest("'tenant_id' is a required property");
    need(await db.projects.get(tenantId), 'project', tenantId);
    const blob = { access: newId(), secret: newId(), trust_id: null };
    const created = await deps.credentials.create({
      id: ec2CredentialId(blob.access),
      userId: id,
      projectId: tenantId,
      type: EC2,
      blob: JSON.stringify(blob),
      extra: {},
    });
    return reply.code(201).send({ credential: ec2View(created) });
  });

  app.get('/v3/users/:id/credentials/OS-EC2/:access', { onRequest: auth }, async (request) => {
    const { id, access } = request.params as { id: string; access: string };
    return { credential: ec2View(await ec2Credential(request, id, access, false)) };
  });

  app.delete('/v3/users/:id/credentials/OS-EC2/:access', { onRequest: auth }, async (request, reply) => {
    const { id, access } = request.params as { id: string; access: string };
    const found = await ec2Credential(request, id, access, true);
    await deps.credentials.delete(found.id);
    return reply.code(204).send();
  });
}
