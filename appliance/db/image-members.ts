import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError, DbQuotaExceededError } from './errors.js';
import type { CloudSql, ImageMember } from './types.js';

type Row = Record<string, unknown>;

const toMember = (r: Row): ImageMember => ({
  imageId: String(r.image_id),
  memberId: String(r.member_id),
  status: String(r.status) as ImageMember['status'],
  createdAt: String(r.created_at),
  updatedAt: String(r.updated_at),
});

/**
 * The `imageMembers` group (Glance's image members): the projects a shared image is offered to,
 * each with its own answer. An image's members go with the image (`images.delete`).
 */
export function imageMembersSql(db: Database.Database): CloudSql['imageMembers'] {
  const get = (imageId: string, memberId: string): ImageMember | null => {
    const row = db
      .prepare('SELECT * FROM image_members WHERE image_id = ? AND member_id = ?')
      .get(imageId, memberId) as Row | undefined;
    return row ? toMember(row) : null;
  };
  return {
    add: (member, limit) => {
      // Glance checks its member quota before the duplicate (glance/quota's ImageMemberRepoProxy).
      const { count } = db
        .prepare('SELECT COUNT(*) AS count FROM image_members WHERE image_id = ?')
        .get(member.imageId) as { count: number };
      if (count >= limit) {
        throw new DbQuotaExceededError(`image ${member.imageId} has ${count} members, the most it may have`);
      }
      if (get(member.imageId, member.memberId)) {
        throw new DbConflictError(`Member ${member.memberId} is duplicated for image ${member.imageId}`);
      }
      db.prepare(
        'INSERT INTO image_members (image_id, member_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      ).run(member.imageId, member.memberId, member.status, member.createdAt, member.updatedAt);
      return member;
    },
    get,
    list: (imageId) =>
      (
        db
          .prepare('SELECT * FROM image_members WHERE image_id = ? ORDER BY created_at, member_id')
          .all(imageId) as Row[]
      ).map(toMember),
    setStatus: (imageId, memberId, status, at) => {
      const changed = db
        .prepare('UPDATE image_members SET status = ?, updated_at = ? WHERE image_id = ? AND member_id = ?')
        .run(status, at, imageId, memberId).changes;
      if (changed === 0) throw new DbNotFoundError('image member', `${imageId}/${memberId}`);
      return get(imageId, memberId) as ImageMember;
    },
    remove: (imageId, memberId) => {
      const changed = db
        .prepare('DELETE FROM image_members WHERE image_id = ? AND member_id = ?')
        .run(imageId, memberId).changes;
      if (changed === 0) throw new DbNotFoundError('image member', `${imageId}/${memberId}`);
    },
  };
}
