/**
 * Nova's keypairs (`os-keypairs`): a user's SSH public keys (and, from microversion 2.2, X.509
 * certificates), imported or generated here with the private half returned once and never
 * kept. A keypair belongs to a user, not a project; from 2.10 the cloud admin names another
 * user with `user_id` (in the body on create, in the query otherwise). Before 2.10 a `user_id`
 * query is ignored, as Nova's schema ignores unknown query parameters. From 2.35 the list is
 * paged, in name order.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_QUOTAS, type Keypair } from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireWriter } from '../context.js';
import { ApiError, badRequest, conflict, notFound } from '../faults.js';
import { body, nameField, rejectUnknown } from './fields.js';
import { checkCertificate, checkPublicKey, generateSshKeyPair, generateX509KeyPair } from './keys.js';
import { atLeast } from './microversions.js';
import { nextLink, pageItems, pageOf } from './paging.js';

const KEYPAIR_TYPES = ['ssh', 'x509'] as const;

/** The fields a keypair shows in a list, and `type` from 2.2. */
function keypairSummary(request: FastifyRequest, k: Keypair) {
  return {
    name: k.name,
    public_key: k.publicKey,
    fingerprint: k.fingerprint,
    ...(atLeast(request, '2.2') ? { type: k.type } : {}),
  };
}

export function registerKeypairs(app: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  /** The user whose keypairs a request reads or deletes: the caller, or from 2.10 the one the cloud admin names. */
  const ownerOf = (request: FastifyRequest): string => {
    const auth = authOf(request);
    const userId = atLeast(request, '2.10') ? queryString(request, 'user_id') : undefined;
    if (userId !== undefined && userId !== auth.user.id) {
      requireCloudAdmin(auth);
      return userId;
    }
    return auth.user.id;
  };

  app.get('/os-keypairs', async (request) => {
    const all = await db.keypairs.list(ownerOf(request));
    if (!atLeast(request, '2.35')) return { keypairs: all.map((k) => ({ keypair: keypairSummary(request, k) })) };
    // From 2.35, paged: `limit`, and `marker` a keypair's name.
    const page = pageOf(request);
    const { shown, more } = pageItems(all, page, (k) => k.name);
    const last = shown[shown.length - 1];
    return {
      keypairs: shown.map((k) => ({ keypair: keypairSummary(request, k) })),
      ...(more && last ? { keypairs_links: nextLink(deps, request, 'os-keypairs', last.name, page.limit) } : {}),
    };
  });

  app.post('/os-keypairs', async (request, reply) => {
    const auth = authOf(request);
    requireWriter(auth);
    const k = body(request, 'keypair');
    rejectUnknown(
      k,
      [
        'name',
        'public_key',
        ...(atLeast(request, '2.2') ? ['type'] : []),
        ...(atLeast(request, '2.10') ? ['user_id'] : []),
      ],
      "'keypair'",
    );
    const name = nameField(k.name);
    if (!/^[\w\- ]+$/.test(name)) throw badRequest('Keypair data is invalid: name contains unsafe characters');
    if (k.type !== undefined && !KEYPAIR_TYPES.includes(k.type as 'ssh')) {
      throw badRequest(
        `Invalid input for field/attribute type. Value: ${String(k.type)}. Must be one of 'ssh', 'x509'.`,
      );
    }
    const type = (k.type as Keypair['type'] | undefined) ?? 'ssh';
    if (k.user_id !== undefined && typeof k.user_id !== 'string') {
      throw badRequest('Invalid input for field/attribute user_id.');
    }
    const userId =
      k.user_id !== undefined && k.user_id !== auth.user.id ? (requireCloudAdmin(auth), k.user_id) : auth.user.id;
    const quotas = auth.project ? await db.quotas.get(auth.project.id) : DEFAULT_QUOTAS;
    if ((await db.keypairs.list(userId)).length >= quotas.key_pairs)
      throw new ApiError(403, 'Quota exceeded, too many key pairs.');
    let publicKey: string;
    let fingerprint: string;
    let privateKey: string | undefined;
    if (k.public_key !== undefined) {
      if (typeof k.public_key !== 'string') throw badRequest('Invalid input for field/attribute public_key.');
      fingerprint = type === 'x509' ? checkCertificate(k.public_key) : checkPublicKey(k.public_key);
      publicKey = k.public_key.trim();
    } else {
      const generated =
        type === 'x509' ? await generateX509KeyPair(userId) : await generateSshKeyPair('Generated-by-rackseed');
      ({ publicKey, fingerprint, privateKey } = generated);
    }
    if (await db.keypairs.get(userId, name)) throw conflict(`Key pair '${name}' already exists.`);
    const created = await db.keypairs.create({
      name,
      userId,
      publicKey,
      fingerprint,
      type,
      createdAt: new Date().toISOString(),
    });
    return reply.code(atLeast(request, '2.2') ? 201 : 200).send({
      keypair: {
        ...keypairSummary(request, created),
        user_id: created.userId,
        ...(privateKey === undefined ? {} : { private_key: privateKey }),
      },
    });
  });

  app.get('/os-keypairs/:name', async (request) => {
    const { name } = request.params as { name: string };
    const k = await db.keypairs.get(ownerOf(request), name);
    if (!k) throw notFound(`Keypair ${name} not found for user`);
    return {
      keypair: {
        ...keypairSummary(request, k),
        user_id: k.userId,
        created_at: k.createdAt.replace(/Z$/, ''),
        deleted: false,
        deleted_at: null,
        updated_at: null,
        id: k.id,
      },
    };
  });

  app.delete('/os-keypairs/:name', async (request, reply) => {
    const { name } = request.params as { name: string };
    const userId = ownerOf(request);
    // Looked up first, as Nova does: a reader deleting a keypair not its own learns it is not
    // there (404), as anyone would, and is refused (403) only its own.
    if (!(await db.keypairs.get(userId, name))) throw notFound(`Keypair ${name} not found for user`);
    requireWriter(authOf(request));
    await db.keypairs.delete(userId, name);
    return reply.code(atLeast(request, '2.2') ? 204 : 202).send();
  });
}
