import type { CloudDb, Image } from '../../db/index.js';
import type { AuthContext } from '../context.js';

/**
 * The image `id` if the caller may see it by Glance's rules (glance/db/utils.py
 * `is_image_visible`), else null: the cloud admin every image; `public` and `community` images everyone
 * (a community image is listed only to those who ask for `visibility=community`: see the
 * database's list); `private` images their owner's project; `shared` images their owner's project
 * and their members, whatever their answer (a member lists it only once accepted).
 */
export async function visibleImage(db: CloudDb, auth: AuthContext, id: string): Promise<Image | null> {
  const image = await db.images.get(id);
  if (!image) return null;
  if (auth.isCloudAdmin || image.owner === auth.project?.id) return image;
  if (image.visibility === 'public' || image.visibility === 'community') return image;
  if (image.visibility !== 'shared' || !auth.project) return null;
  return (await db.imageMembers.get(id, auth.project.id)) ? image : null;
}
