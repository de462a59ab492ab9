import type { Image } from '../../db/index.js';
import type { AuthContext } from '../context.js';

/**
 * Who sees an image, by Glance's rules: `public` and `community` images everyone (a community
 * image is listed only to those who ask for `visibility=community`: see the database's list);
 * `private` and `shared` images their owner's project (and a shared image's accepted members,
 * once image members exist: until then, no one else); the cloud admin every image.
 */
export function imageVisibleTo(image: Pick<Image, 'visibility' | 'owner'>, auth: AuthContext): boolean {
  if (auth.isCloudAdmin || image.owner === auth.project?.id) return true;
  return image.visibility === 'public' || image.visibility === 'community';
}
