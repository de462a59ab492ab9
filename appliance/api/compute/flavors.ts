/**
 * Nova's flavors (`/flavors`): the sizes a server is made in. Everyone lists the public ones and
 * those their project was given access to; the cloud admin makes and deletes them, sets their
 * extra specs and access, and from microversion 2.55 their description (views.ts shows it, and
 * from 2.61 the extra specs).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Flavor } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, conflict, notFound } from '../faults.js';
import { body, boolish, descriptionField, intField, isObject, nameField, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';
import { nextLink, pageItems, pageOf } from './paging.js';
import { flavorBasic, flavorDetail } from './views.js';

/** A flavor the caller may use: public, or its project's by access; 404 otherwise (the cloud admin sees all). */
export async function visibleFlavor(deps: ApiDeps, auth: AuthContext, id: string): Promise<Flavor> {
  const f = await deps.db.flavors.get(id);
  if (f && (f.isPublic || auth.isCloudAdmin)) return f;
  if (f && auth.project && (await deps.db.flavors.access(id)).includes(auth.project.id)) return f;
  throw notFound(`Flavor ${id} could not be found.`);
}

export function registerFlavors(app: FastifyInstance, deps: ApiDeps): void {
  const base = deps.publicUrl;
  const db = deps.db;

  const listFlavors = async (request: FastifyRequest) => {
    const auth = authOf(request);
    const page = pageOf(request);
    const isPublicText = queryString(request, 'is_public');
    let isPublic: boolean | undefined = true;
    if (auth.isCloudAdmin && isPublicText !== undefined) {
      // Nova reads it with oslo's strict bool_from_string, which takes t/f and y/n too.
      const short: Record<string, string> = { t: 'true', y: 'true', f: 'false', n: 'false' };
      isPublic = /^none$/i.test(isPublicText)
        ? undefined
        : boolish(short[isPublicText.toLowerCase()] ?? isPublicText, 'is_public');
    }
    const minRam = queryString(request, 'minRam');
    const minDisk = queryString(request, 'minDisk');
    let flavors = await db.flavors.list({
      isPublic: auth.isCloudAdmin ? isPublic : undefined,
      projectId: auth.isCloudAdmin ? undefined : auth.project?.id,
      minRam: minRam === undefined ? undefined : intField(minRam, 'minRam', 0),
      minDisk: minDisk === undefined ? undefined : intField(minDisk, 'minDisk', 0),
    });
    if (!auth.isCloudAdmin && !auth.project) flavors = flavors.filter((f) => f.isPublic);
    const { shown, more } = pageItems(flavors, page, (f) => f.id);
    return { shown, more, last: shown[shown.length - 1], page };
  };

  app.get('/flavors', async (request) => {
    const { shown, more, last, page } = await listFlavors(request);
    return {
      flavors: shown.map((f) => flavorBasic(request, base, f)),
      ...(more && last ? { flavors_links: nextLink(deps, request, 'flavors', last.id, page.limit) } : {}),
    };
  });
  app.get('/flavors/detail', async (request) => {
    const { shown, more, last, page } = await listFlavors(request);
    return {
      flavors: shown.map((f) => flavorDetail(request, base, f)),
      ...(more && last ? { flavors_links: nextLink(deps, request, 'flavors/detail', last.id, page.limit) } : {}),
    };
  });
  app.get('/flavors/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { flavor: flavorDetail(request, base, await visibleFlavor(deps, authOf(request), id)) };
  });
  app.post('/flavors', async (request) => {
    requireCloudAdmin(authOf(request));
    const f = body(request, 'flavor');
    rejectUnknown(
      f,
      [
        'name',
        'id',
        'ram',
        'vcpus',
        'disk',
        'swap',
        'OS-FLV-EXT-DATA:ephemeral',
        'rxtx_factor',
        'os-flavor-access:is_public',
        ...(atLeast(request, '2.55') ? ['description'] : []),
      ],
      "'flavor'",
    );
    const id = f.id === undefined || f.id === null ? randomUUID() : String(f.id);
    if (!/^[\w.\- ]{1,255}$/.test(id)) throw badRequest('Invalid input for field/attribute id.');
    const flavor = await db.flavors.create({
      id,
      name: nameField(f.name),
      ram: intField(f.ram, 'ram', 1),
      vcpus: intField(f.vcpus, 'vcpus', 1),
      disk: intField(f.disk, 'disk', 0),
      swap: f.swap === undefined || f.swap === '' ? 0 : intField(f.swap, 'swap', 0),
      ephemeral:
        f['OS-FLV-EXT-DATA:ephemeral'] === undefined ? 0 : intField(f['OS-FLV-EXT-DATA:ephemeral'], 'ephemeral', 0),
      rxtxFactor: f.rxtx_factor === undefined ? 1 : Number(f.rxtx_factor),
      isPublic:
        f['os-flavor-access:is_public'] === undefined ? true : boolish(f['os-flavor-access:is_public'], 'is_public'),
      disabled: false,
      description: f.description === undefined ? null : descriptionField(f.description, 65535),
      extraSpecs: {},
      createdAt: new Date().toISOString(),
    });
    return { flavor: flavorDetail(request, base, flavor) };
  });
  // 2.55: a flavor's description is the one thing that changes.
  app.put('/flavors/:id', async (request) => {
    if (!atLeast(request, '2.55')) throw notFound('The resource could not be found.');
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const f = body(request, 'flavor');
    rejectUnknown(f, ['description'], "'flavor'");
    if (f.description === undefined) throw badRequest("Invalid input: 'description' is a required property");
    if (!(await db.flavors.get(id))) throw notFound(`Flavor ${id} could not be found.`);
    const flavor = await db.flavors.setDescription(id, descriptionField(f.description, 65535));
    return { flavor: flavorDetail(request, base, flavor) };
  });
  app.delete('/flavors/:id', async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    if (!(await db.flavors.get(id))) throw notFound(`Flavor ${id} could not be found.`);
    await db.flavors.delete(id);
    return reply.code(202).send();
  });

  // Extra specs.
  app.get('/flavors/:id/os-extra_specs', async (request) => {
    const { id } = request.params as { id: string };
    return { extra_specs: (await visibleFlavor(deps, authOf(request), id)).extraSpecs };
  });
  const specsOf = (request: FastifyRequest, key: string): Record<string, string> => {
    const b = request.body;
    if (!isObject(b) || !isObject(b[key])) throw badRequest(`Invalid input: '${key}' is a required property`);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(b[key])) {
      if (!/^[\w.\-: ]{1,255}$/.test(k) || (typeof v !== 'string' && typeof v !== 'number') || String(v).length > 255) {
        throw badRequest(`Invalid input for field/attribute ${key}: bad item '${k}'`);
      }
      out[k] = String(v);
    }
    return out;
  };
  app.post('/flavors/:id/os-extra_specs', async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const specs = specsOf(request, 'extra_specs');
    await db.flavors.setExtraSpecs(id, specs);
    return { extra_specs: specs };
  });
  app.get('/flavors/:id/os-extra_specs/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    const f = await visibleFlavor(deps, authOf(request), id);
    if (!(key in f.extraSpecs)) throw notFound(`Flavor ${id} has no extra specs with key ${key}.`);
    return { [key]: f.extraSpecs[key] };
  });
  app.put('/flavors/:id/os-extra_specs/:key', async (request) => {
    requireCloudAdmin(authOf(request));
    const { id, key } = request.params as { id: string; key: string };
    const b = request.body;
    if (!isObject(b) || Object.keys(b).length !== 1 || !(key in b)) throw badRequest('Request body and URI mismatch');
    const specs = specsOf({ body: { s: b } } as unknown as FastifyRequest, 's');
    await db.flavors.setExtraSpecs(id, specs);
    return specs;
  });
  app.delete('/flavors/:id/os-extra_specs/:key', async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { id, key } = request.params as { id: string; key: string };
    await db.flavors.deleteExtraSpec(id, key);
    return reply.code(200).send();
  });

  // Access to private flavors.
  const accessView = (id: string, projects: string[]) => ({
    flavor_access: projects.map((p) => ({ flavor_id: id, tenant_id: p })),
  });
  app.get('/flavors/:id/os-flavor-access', async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const f = await db.flavors.get(id);
    if (!f) throw notFound(`Flavor ${id} could not be found.`);
    if (f.isPublic) throw notFound('Access list not available for public flavors.');
    return accessView(id, await db.flavors.access(id));
  });
  app.post('/flavors/:id/action', async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const b = request.body;
    const f = await db.flavors.get(id);
    if (!f) throw notFound(`Flavor ${id} could not be found.`);
    if (isObject(b) && isObject(b.addTenantAccess) && typeof b.addTenantAccess.tenant === 'string') {
      // From 2.7 access to a public flavor is refused; before, Nova recorded it (to no effect).
      if (f.isPublic && atLeast(request, '2.7')) throw conflict('Can not add access to a public flavor.');
      return accessView(id, await db.flavors.addAccess(id, b.addTenantAccess.tenant));
    }
    if (isObject(b) && isObject(b.removeTenantAccess) && typeof b.removeTenantAccess.tenant === 'string') {
      return accessView(id, await db.flavors.removeAccess(id, b.removeTenantAccess.tenant));
    }
    throw badRequest('There is no such action.');
  });
}
