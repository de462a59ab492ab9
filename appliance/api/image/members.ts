import type { FastifyInstance } from 'fastify';
import type { CloudDb, Image, ImageMember } from '../../db/index.js';
import { type AuthContext, authOf } from '../context.js';
import { ApiError, badRequest, forbidden, notFound } from '../faults.js';
import { collectionSchema } from './image-schema.js';
import { glanceTime } from './views.js';
import { visibleImage } from './visibility.js';

/** Glance's `image_member_quota` default: the most members one image may have. */
const MEMBER_LIMIT = 128;
const STATUSES: readonly ImageMember['status'][] = ['pending', 'accepted', 'rejected'];

/** glance/api/v2/image_members.py `ResponseSerializer._format_image_member`. */
function memberView(m: ImageMember) {
  return {
    member_id: m.memberId,
    image_id: m.imageId,
    status: m.status,
    created_at: glanceTime(m.createdAt),
    updated_at: glanceTime(m.updatedAt),
    schema: '/v2/schemas/member',
  };
}

const MEMBER_SCHEMA = {
  name: 'member',
  properties: {
    member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
    image_id: {
      type: 'string',
      description: 'An identifier for the image',
      pattern: '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$',
    },
    created_at: { type: 'string', description: 'Date and time of image member creation' },
    updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
    status: { type: 'string', description: 'The status of this image member', enum: [...STATUSES] },
    schema: { readOnly: true, type: 'string' },
  },
  additionalProperties: false,
};

/** The one string field `key` of a request body, with Glance's messages for each way it can be wrong. */
function bodyField(body: unknown, key: string, missing: string, form: string): string {
  if (body === undefined || body === null) throw badRequest('Body expected in request.');
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest(`Expected a ${key} in the form: ${form}`);
  const value = (body as Record<string, unknown>)[key];
  if (value === undefined) throw badRequest(missing);
  if (typeof value !== 'string') throw badRequest(`Expected a ${key} in the form: ${form}`);
  return value;
}

/**
 * Glance v2's image members (glance/api/v2/image_members.py, with its policies' new defaults):
 * the owner's project offers a `shared` image to other projects, each of which accepts, rejects
 * or leaves pending its own membership; the owner sees every member, a member only itself.
 * Whoever cannot see the image gets 404, as for the image itself.
 */
export function imageMemberRoutes(api: FastifyInstance, db: CloudDb): void {
  /** The image, visible to the caller (else 404) and shared (else 403 with `refusal`, as Glance). */
  const sharedImage = async (auth: AuthContext, id: string, refusal: string): Promise<Image> => {
    const image = await visibleImage(db, auth, id);
    if (!image) throw notFound(`Image ${id} not found.`);
    if (image.visibility !== 'shared') throw forbidden(refusal);
    return image;
  };
  /** Member `memberId` as the caller may see it: every member for the owner and admins, else only its own. */
  const memberOf = async (auth: AuthContext, image: Image, memberId: string): Promise<ImageMember> => {
    const mayLook = auth.isCloudAdmin || image.owner === auth.project?.id || memberId === auth.project?.id;
    const member = mayLook ? await db.imageMembers.get(image.id, memberId) : null;
    if (!member) throw notFound(`${memberId} not found in the member list of the image ${image.id}.`);
    return member;
  };
  const isOwningWriter = (auth: AuthContext, image: Image) =>
    auth.isCloudAdmin || (auth.canWrite && image.owner === auth.project?.id);

  api.post('/images/:id/members', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const memberId = bodyField(request.body, 'member', 'Member to be added not specified', '{"member": "image_id"}');
    if (memberId === '') throw badRequest("Member can't be empty");
    if (memberId.length > 255) throw badRequest('Member must be at most 255 characters.');
    const refusal = `Not allowed to create members for image ${id}.`;
    const image = await sharedImage(auth, id, refusal);
    if (!isOwningWriter(auth, image)) throw forbidden(refusal);
    const now = new Date().toISOString();
    try {
      const member = { imageId: id, memberId, status: 'pending' as const, createdAt: now, updatedAt: now };
      return memberView(await db.imageMembers.add(member, MEMBER_LIMIT));
    } catch (error) {
      if ((error as { code?: string }).code !== 'DB_ERR_QUOTA_EXCEEDED') throw error;
      throw new ApiError(
        413,
        `Image member limit exceeded for image ${id}: at most ${MEMBER_LIMIT}.`,
        'API_ERR_OVER_LIMIT',
      );
    }
  });

  api.get('/images/:id/members', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const refusal = `Not allowed to list members for image ${id}: Only shared images have members.`;
    const image = await sharedImage(auth, id, refusal);
    const everyone = auth.isCloudAdmin || image.owner === auth.project?.id;
    const members = (await db.imageMembers.list(id)).filter((m) => everyone || m.memberId === auth.project?.id);
    return { members: members.map(memberView), schema: '/v2/schemas/members' };
  });

  api.get('/images/:id/members/:member', async (request) => {
    const auth = authOf(request);
    const { id, member } = request.params as { id: string; member: string };
    // Glance answers 404, not 403, for a non-shared image here: nothing leaks about it.
    const image = await visibleImage(db, auth, id);
    if (!image) throw notFound(`Image ${id} not found.`);
    if (image.visibility !== 'shared') throw notFound('Only shared images have members.');
    return memberView(await memberOf(auth, image, member));
  });

  api.put('/images/:id/members/:member', async (request) => {
    const auth = authOf(request);
    const { id, member } = request.params as { id: string; member: string };
    const status = bodyField(request.body, 'status', 'Status not specified', '{"status": "status"}');
    const refusal = `Not allowed to update members for image ${id}.`;
    const image = await sharedImage(auth, id, refusal);
    await memberOf(auth, image, member);
    // Only the member itself answers (or an admin): not the owner.
    if (!auth.isCloudAdmin && !(auth.canWrite && member === auth.project?.id)) throw forbidden(refusal);
    if (!(STATUSES as readonly string[]).includes(status)) {
      throw badRequest('Incorrect request: Status must be "pending", "accepted" or "rejected".');
    }
    const at = new Date().toISOString();
    return memberView(await db.imageMembers.setStatus(id, member, status as ImageMember['status'], at));
  });

  api.delete('/images/:id/members/:member', async (request, reply) => {
    const auth = authOf(request);
    const { id, member } = request.params as { id: string; member: string };
    const refusal = `Not allowed to delete members for image ${id}.`;
    const image = await sharedImage(auth, id, refusal);
    await memberOf(auth, image, member);
    if (!isOwningWriter(auth, image)) throw forbidden(refusal);
    await db.imageMembers.remove(id, member);
    return reply.code(204).send();
  });

  api.get('/schemas/member', async () => MEMBER_SCHEMA);
  api.get('/schemas/members', async () => collectionSchema('members', { type: 'array', items: MEMBER_SCHEMA }));
}
