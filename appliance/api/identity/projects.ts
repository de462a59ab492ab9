import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Domain, Project } from '../../db/index.js';
import { ADMIN_PROJECT } from '../bootstrap.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest, forbidden, notFound } from '../faults.js';
import { deleteDomain, updateDomain } from './domains.js';
import { isObject, type Json, objectField, optionalBool, optionalString, requiredName } from './body.js';
import { collectionLinks, descriptionOf, domainAsProjectView, newId, projectView, truthy } from './views.js';

const MAX_TAGS = 80;

/** Keystone's project tag: 1 to 255 characters, without a comma or a slash. */
function checkTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > 255 || /[,/]/.test(tag)) {
    throw badRequest(`Invalid tag: ${String(tag)}`);
  }
  return tag;
}

/** A project's tags in a body: at most 80, none twice. */
function tagsOf(p: Json): string[] | undefined {
  if (p.tags === undefined) return undefined;
  const tags = p.tags;
  if (!Array.isArray(tags) || tags.length > MAX_TAGS) {
    throw badRequest(`Invalid input for field 'tags': at most ${MAX_TAGS} strings`);
  }
  if (new Set(tags).size !== tags.length) throw badRequest('Tags must be unique');
  return tags.map(checkTag);
}

/** Keystone's tag filters of a project list (`tags`, `tags-any`, `not-tags`, `not-tags-any`: comma-separated). */
function tagFilter(request: FastifyRequest): (p: Project) => boolean {
  const list = (name: string) => queryString(request, name)?.split(',');
  const [all, any, notAll, notAny] = [list('tags'), list('tags-any'), list('not-tags'), list('not-tags-any')];
  return (p) =>
    (!all || all.every((t) => p.tags.includes(t))) &&
    (!any || any.some((t) => p.tags.includes(t))) &&
    (!notAll || !notAll.every((t) => p.tags.includes(t))) &&
    (!notAny || !notAny.some((t) => p.tags.includes(t)));
}

/**
 * Keystone's `/v3/projects` (its default policy: the cloud admin administers them; a token's own
 * project may be read through it). Projects nest: `parent_id` is the domain for a top-level
 * project, and a project with projects under it is not deleted (403). A project created with
 * `is_domain` is a domain (Keystone's projects acting as domains): the projects API shows,
 * lists (`is_domain=true`), changes and deletes it as one. A project's tags are also read and
 * changed one by one under `/tags` (the project's own token reads them, the cloud admin changes them).
 */
export async function projectRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;

  /** The project, or the domain acting as a project, that `id` names; 404 when neither. */
  const projectOrDomain = async (id: string): Promise<{ project: Project } | { domain: Domain }> => {
    const project = await db.projects.get(id);
    if (project) return { project };
    const domain = await db.domains.get(id);
    if (domain) return { domain };
    throw notFound(`Could not find project: ${id}.`);
  };
  const view = (found: { project: Project } | { domain: Domain }) =>
    'project' in found ? projectView(deps, found.project) : domainAsProjectView(deps, found.domain);

  app.get('/v3/projects', { onRequest: auth }, async (request: FastifyRequest) => {
    requireCloudAdmin(authOf(request));
    const name = queryString(request, 'name');
    const enabled = truthy(queryString(request, 'enabled'));
    if (truthy(queryString(request, 'is_domain'))) {
      const domains = await db.domains.list({ name, enabled });
      return { projects: domains.map((d) => domainAsProjectView(deps, d)), links: collectionLinks(deps, request) };
    }
    const parentId = queryString(request, 'parent_id');
    const tagged = tagFilter(request);
    const projects = (await db.projects.list({ name, domainId: queryString(request, 'domain_id'), enabled })).filter(
      (p) => (parentId === undefined || (p.parentId ?? p.domainId) === parentId) && tagged(p),
    );
    return { projects: projects.map((p) => projectView(deps, p)), links: collectionLinks(deps, request) };
  });

  app.post('/v3/projects', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const p = objectField(request.body, 'project');
    const name = requiredName(p, 64);
    const description = descriptionOf(p) ?? '';
    const enabled = optionalBool(p, 'enabled') ?? true;
    if (optionalBool(p, 'is_domain')) {
      if (p.parent_id !== undefined && p.parent_id !== null) throw badRequest('A domain has no parent.');
      const domain = await db.domains.create({ id: newId(), name, description, enabled });
      return reply.code(201).send({ project: domainAsProjectView(deps, domain) });
    }
    const parentId = optionalString(p, 'parent_id');
    const parent = parentId === undefined ? null : await projectOrDomain(parentId).catch(() => null);
    if (parentId !== undefined && !parent) throw notFound(`Could not find parent project: ${parentId}.`);
    const parentDomain = parent ? ('project' in parent ? parent.project.domainId : parent.domain.id) : undefined;
    const domainId = optionalString(p, 'domain_id') ?? parentDomain ?? 'default';
    if (!(await db.domains.get(domainId))) throw notFound(`Could not find domain: ${domainId}.`);
    if (parentDomain !== undefined && parentDomain !== domainId) {
      throw badRequest('A project must be in the domain of its parent.');
    }
    const project = await db.projects.create({
      id: newId(),
      name,
      domainId,
      description,
      enabled,
      parentId: parent && 'project' in parent ? parent.project.id : null,
      tags: tagsOf(p) ?? [],
    });
    return reply.code(201).send({ project: projectView(deps, project) });
  });

  app.get('/v3/projects/:id', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const { id } = request.params as { id: string };
    if (!me.isCloudAdmin && me.project?.id !== id) throw forbidden();
    return { project: view(await projectOrDomain(id)) };
  });

  app.patch('/v3/projects/:id', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const p = objectField(request.body, 'project');
    const found = await projectOrDomain(id);
    const current = 'project' in found ? found.project : null;
    if (p.domain_id !== undefined && p.domain_id !== (current?.domainId ?? null)) {
      throw badRequest("A project's domain cannot be changed.");
    }
    if (p.parent_id !== undefined && p.parent_id !== (current ? (current.parentId ?? current.domainId) : null)) {
      throw forbidden('A project cannot be moved under another parent.');
    }
    if (p.is_domain !== undefined && p.is_domain !== !current) throw badRequest('is_domain cannot be changed.');
    const patch = {
      name: p.name === undefined ? undefined : requiredName(p, 64),
      description: descriptionOf(p),
      enabled: optionalBool(p, 'enabled'),
    };
    if (!current) return { project: domainAsProjectView(deps, await updateDomain(deps, id, patch)) };
    if (current.name === ADMIN_PROJECT.name && current.domainId === ADMIN_PROJECT.domainId && patch.enabled === false) {
      throw forbidden('The admin project cannot be disabled.');
    }
    return { project: projectView(deps, await db.projects.update(id, { ...patch, tags: tagsOf(p) })) };
  });

  app.delete('/v3/projects/:id', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const found = await projectOrDomain(id);
    if ('domain' in found) await deleteDomain(deps, found.domain);
    else {
      const p = found.project;
      if (p.name === ADMIN_PROJECT.name && p.domainId === ADMIN_PROJECT.domainId) {
        throw forbidden('The admin project cannot be deleted.');
      }
      if ((await db.projects.list({ parentId: id })).length > 0) {
        throw forbidden(`Cannot delete the project ${id}: it has projects under it.`);
      }
      await db.projects.delete(id);
    }
    return reply.code(204).send();
  });

  // Project tags.
  const taggedProject = async (request: FastifyRequest, write: boolean) => {
    const me = authOf(request);
    const { id } = request.params as { id: string };
    if (write) requireCloudAdmin(me);
    else if (!me.isCloudAdmin && me.project?.id !== id) throw forbidden();
    const project = await db.projects.get(id);
    if (!project) throw notFound(`Could not find project: ${id}.`);
    return project;
  };
  const setTags = async (id: string, tags: string[]) => {
    if (tags.length > MAX_TAGS) throw badRequest(`A project has at most ${MAX_TAGS} tags.`);
    return (await db.projects.update(id, { tags })).tags;
  };
  app.get('/v3/projects/:id/tags', { onRequest: auth }, async (request) => ({
    tags: (await taggedProject(request, false)).tags,
  }));
  app.put('/v3/projects/:id/tags', { onRequest: auth }, async (request) => {
    const project = await taggedProject(request, true);
    const tags = tagsOf(isObject(request.body) ? request.body : {});
    if (tags === undefined) throw badRequest('Expecting to find tags in request body');
    return { tags: await setTags(project.id, tags) };
  });
  app.delete('/v3/projects/:id/tags', { onRequest: auth }, async (request, reply) => {
    await setTags((await taggedProject(request, true)).id, []);
    return reply.code(204).send();
  });
  // Answers HEAD too (Fastify's sibling route of a GET).
  app.get('/v3/projects/:id/tags/:tag', { onRequest: auth }, async (request, reply) => {
    const { tag } = request.params as { tag: string };
    if (!(await taggedProject(request, false)).tags.includes(tag)) throw notFound(`Tag ${tag} not found.`);
    return reply.code(204).send();
  });
  app.put('/v3/projects/:id/tags/:tag', { onRequest: auth }, async (request, reply) => {
    const project = await taggedProject(request, true);
    const tag = checkTag((request.params as { tag: string }).tag);
    if (!project.tags.includes(tag)) await setTags(project.id, [...project.tags, tag]);
    // Keystone answers 201 with the tag's address and no body.
    return reply
      .code(201)
      .header('location', `${deps.publicUrl}/identity/v3/projects/${project.id}/tags/${tag}`)
      .send();
  });
  app.delete('/v3/projects/:id/tags/:tag', { onRequest: auth }, async (request, reply) => {
    const project = await taggedProject(request, true);
    const { tag } = request.params as { tag: string };
    if (!project.tags.includes(tag)) throw notFound(`Tag ${tag} not found.`);
    await setTags(
      project.id,
      project.tags.filter((t) => t !== tag),
    );
    return reply.code(204).send();
  });
}
