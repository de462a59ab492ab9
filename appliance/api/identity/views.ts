import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Domain, Group, Project, Role, User } from '../../db/index.js';
import type { ApiDeps } from '../context.js';
import { type Json, optionalString } from './body.js';

// Keystone's views of its records, and the checks its JSON schemas make of their fields.

/** The `links` of a Keystone collection: only `self`, as Keystone without paging. */
export const collectionLinks = (deps: ApiDeps, request: FastifyRequest) => ({
  self: `${deps.publicUrl}/identity${request.url.replace(/^\/identity/, '')}`,
  next: null,
  previous: null,
});

export const selfLink = (deps: ApiDeps, path: string) => ({ self: `${deps.publicUrl}/identity/v3/${path}` });

export const domainView = (deps: ApiDeps, d: Domain) => ({
  id: d.id,
  name: d.name,
  description: d.description,
  enabled: d.enabled,
  tags: [],
  options: {},
  links: selfLink(deps, `domains/${d.id}`),
});

export const projectView = (deps: ApiDeps, p: Project) => ({
  id: p.id,
  name: p.name,
  domain_id: p.domainId,
  description: p.description,
  enabled: p.enabled,
  parent_id: p.parentId ?? p.domainId,
  is_domain: false,
  tags: p.tags,
  options: {},
  links: selfLink(deps, `projects/${p.id}`),
});

/** A domain as the projects API shows it (Keystone's project acting as a domain). */
export const domainAsProjectView = (deps: ApiDeps, d: Domain) => ({
  id: d.id,
  name: d.name,
  domain_id: null,
  description: d.description,
  enabled: d.enabled,
  parent_id: null,
  is_domain: true,
  tags: [],
  options: {},
  links: selfLink(deps, `projects/${d.id}`),
});

export const userView = (deps: ApiDeps, u: User) => ({
  ...u.extra,
  id: u.id,
  name: u.name,
  domain_id: u.domainId,
  enabled: u.enabled,
  default_project_id: u.defaultProjectId ?? undefined,
  email: u.email ?? undefined,
  description: u.description,
  password_expires_at: passwordExpiresAt(u),
  options: u.options,
  links: selfLink(deps, `users/${u.id}`),
});

/** A user's `password_expires_at` as Keystone writes it (oslo's `%Y-%m-%dT%H:%M:%S.%f`, UTC); null: never. */
export const passwordExpiresAt = (u: User): string | null => u.passwordExpiresAt?.replace(/Z$/, '000') ?? null;

export const groupView = (deps: ApiDeps, g: Group) => ({
  id: g.id,
  name: g.name,
  domain_id: g.domainId,
  description: g.description,
  links: selfLink(deps, `groups/${g.id}`),
});

export const roleView = (deps: ApiDeps, r: Role) => ({
  id: r.id,
  name: r.name,
  domain_id: r.domainId,
  description: r.description,
  options: {},
  links: selfLink(deps, `roles/${r.id}`),
});

/** A description: any string, null for none. */
export const descriptionOf = (o: Json): string | undefined =>
  o.description === null ? '' : optionalString(o, 'description');

/** Keystone's boolean query parameters: anything but 0 and false (in any case) is true. */
export const truthy = (value: string | undefined): boolean | undefined =>
  value === undefined ? undefined : !['0', 'false'].includes(value.toLowerCase());

/** A new record's id: Keystone's 32 hex digits. */
export const newId = (): string => randomUUID().replace(/-/g, '');
