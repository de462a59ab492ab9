import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError } from './errors.js';
import { json, type Row, statements, str, strOrNull, where } from './rows.js';
import type { CloudSql, EndpointGroup, EndpointGroupFilters } from './types.js';

const toGroup = (r: Row): EndpointGroup => ({
  id: str(r.id),
  name: str(r.name),
  description: strOrNull(r.description),
  filters: json<EndpointGroupFilters>(r.filters),
});

/**
 * The `endpointGroups` and `projectEndpoints` groups: Keystone's endpoint filter (OS-EP-FILTER),
 * which limits a project's catalog to the endpoints given it one by one and those its endpoint
 * groups select. A project's associations go with it, a group's with the group, and a stored
 * endpoint's with the endpoint (a trigger: the API's own endpoints are never stored, so the
 * endpoint is no foreign key). Whether an endpoint exists is the API's to check.
 */
export function endpointFilterSql(db: Database.Database): Pick<CloudSql, 'endpointGroups' | 'projectEndpoints'> {
  const { all, one, run, insert, mustChange } = statements(db);
  const get = (id: string): EndpointGroup | null => {
    const row = one('SELECT * FROM endpoint_groups WHERE id = ?', id);
    return row ? toGroup(row) : null;
  };
  const needProject = (id: string): void => {
    if (!one('SELECT id FROM projects WHERE id = ?', id)) throw new DbNotFoundError('project', id);
  };
  const ofProject = (projectId: string): EndpointGroup[] =>
    all(
      `SELECT g.* FROM endpoint_groups g JOIN endpoint_group_projects p ON p.endpoint_group_id = g.id
       WHERE p.project_id = ? ORDER BY g.rowid`,
      projectId,
    ).map(toGroup);

  return {
    endpointGroups: {
      create: (g) => {
        insert(
          'endpoint_groups',
          { id: g.id, name: g.name, description: g.description, filters: g.filters },
          `endpoint group ${g.id}`,
        );
        return get(g.id) as EndpointGroup;
      },
      get,
      list: (filter) => {
        const w = where({ name: filter.name });
        return all(`SELECT * FROM endpoint_groups${w.sql} ORDER BY rowid`, ...w.params).map(toGroup);
      },
      update: (id, patch) => {
        const before = get(id);
        if (!before) throw new DbNotFoundError('endpoint group', id);
        const next = { ...before, ...patch };
        run(
          'UPDATE endpoint_groups SET name = ?, description = ?, filters = ? WHERE id = ?',
          next.name,
          next.description,
          JSON.stringify(next.filters),
          id,
        );
        return get(id) as EndpointGroup;
      },
      delete: (id) => mustChange(run('DELETE FROM endpoint_groups WHERE id = ?', id), 'endpoint group', id),
      addProject: (groupId, projectId) => {
        if (!get(groupId)) throw new DbNotFoundError('endpoint group', groupId);
        needProject(projectId);
        if (
          one(
            'SELECT 1 FROM endpoint_group_projects WHERE endpoint_group_id = ? AND project_id = ?',
            groupId,
            projectId,
          )
        ) {
          throw new DbConflictError(`project ${projectId} has endpoint group ${groupId} already`);
        }
        run('INSERT INTO endpoint_group_projects (endpoint_group_id, project_id) VALUES (?, ?)', groupId, projectId);
      },
      removeProject: (groupId, projectId) =>
        mustChange(
          run('DELETE FROM endpoint_group_projects WHERE endpoint_group_id = ? AND project_id = ?', groupId, projectId),
          'endpoint group project association',
          `${groupId}/${projectId}`,
        ),
      projects: (groupId) =>
        all('SELECT project_id FROM endpoint_group_projects WHERE endpoint_group_id = ? ORDER BY rowid', groupId).map(
          (r) => str(r.project_id),
        ),
      ofProject,
    },
    projectEndpoints: {
      add: (projectId, endpointId) => {
        needProject(projectId);
        if (one('SELECT 1 FROM project_endpoints WHERE project_id = ? AND endpoint_id = ?', projectId, endpointId)) {
          throw new DbConflictError(`project ${projectId} has endpoint ${endpointId} already`);
        }
        run('INSERT INTO project_endpoints (project_id, endpoint_id) VALUES (?, ?)', projectId, endpointId);
      },
      remove: (projectId, endpointId) =>
        mustChange(
          run('DELETE FROM project_endpoints WHERE project_id = ? AND endpoint_id = ?', projectId, endpointId),
          'project endpoint association',
          `${projectId}/${endpointId}`,
        ),
      list: (filter) => {
        const w = where({ project_id: filter.projectId, endpoint_id: filter.endpointId });
        return all(`SELECT * FROM project_endpoints${w.sql} ORDER BY rowid`, ...w.params).map((r) => ({
          projectId: str(r.project_id),
          endpointId: str(r.endpoint_id),
        }));
      },
      filterOf: (projectId) => ({
        endpointIds: all(
          'SELECT endpoint_id FROM project_endpoints WHERE project_id = ? ORDER BY rowid',
          projectId,
        ).map((r) => str(r.endpoint_id)),
        groups: ofProject(projectId).map((g) => g.filters),
      }),
    },
  };
}
