/**
 * A project's security groups as Nova's API names them: `security_groups: [{"name": …}]` on a
 * server create and the add/remove actions take a group's name or id (Nova's neutron API
 * `validate_name`). The one lookup both APIs use.
 */
import type { CloudDb, SecurityGroup } from '../../db/index.js';
import { ApiError, badRequest } from '../faults.js';

/** The project's group called (or whose id is) `nameOrId`; 404/409 as Nova's `_get_security_group`. */
export async function projectGroup(db: CloudDb, projectId: string, nameOrId: string): Promise<SecurityGroup | null> {
  await db.securityGroups.ensureDefault(projectId, new Date().toISOString());
  const groups = await db.securityGroups.list({ projectId });
  const byName = groups.filter((g) => g.name === nameOrId);
  if (byName.length > 1)
    throw new ApiError(
      409,
      `Multiple security_group matches found for name '${nameOrId}', use an ID to be more specific.`,
      'API_ERR_SECURITY_GROUP_AMBIGUOUS',
    );
  return byName[0] ?? groups.find((g) => g.id === nameOrId) ?? null;
}

/**
 * The groups a server create asks for (`security_groups`, a list of `{name}`), as ids; the
 * project's default group when it names none. An unknown one is a 400, as Nova's.
 */
export async function requestedSecurityGroups(db: CloudDb, projectId: string, requested: unknown): Promise<string[]> {
  if (requested === undefined) requested = [{ name: 'default' }];
  if (!Array.isArray(requested) || requested.length === 0)
    throw badRequest("Invalid input for field/attribute security_groups. Value: must be a non-empty list of {'name'}.");
  const ids: string[] = [];
  for (const entry of requested) {
    const name = (entry as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > 255)
      throw badRequest("Invalid input for field/attribute security_groups. Value: each entry is {'name': string}.");
    const group = await projectGroup(db, projectId, name);
    if (!group) throw badRequest(`Security group ${name} not found for project ${projectId}.`);
    ids.push(group.id);
  }
  return [...new Set(ids)];
}
