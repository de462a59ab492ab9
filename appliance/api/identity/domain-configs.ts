import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DomainConfigOption } from '../../db/index.js';
import { type ApiDeps, authOf, requireCloudAdmin, requireToken } from '../context.js';
import { forbidden, notFound } from '../faults.js';
import { isObject, type Json, need } from './body.js';

/**
 * The options a domain may set, with Keystone's defaults (keystone/conf/identity.py and
 * ldap.py): its DomainConfigManager's whitelisted options, which alone it stores, shows and
 * answers defaults for. Unset options default to null (oslo.config's None).
 */
const WHITELISTED: Record<string, Record<string, unknown>> = {
  identity: { driver: 'sql', list_limit: null },
  ldap: {
    url: 'ldap://localhost',
    user: null,
    suffix: 'cn=example,cn=com',
    query_scope: 'one',
    page_size: 0,
    alias_dereferencing: 'default',
    debug_level: null,
    chase_referrals: null,
    user_tree_dn: null,
    user_filter: null,
    user_objectclass: 'inetOrgPerson',
    user_id_attribute: 'cn',
    user_name_attribute: 'sn',
    user_mail_attribute: 'mail',
    user_description_attribute: 'description',
    user_pass_attribute: 'userPassword',
    user_enabled_attribute: 'enabled',
    user_enabled_invert: false,
    user_enabled_mask: 0,
    user_enabled_default: 'True',
    user_attribute_ignore: ['default_project_id'],
    user_default_project_id_attribute: null,
    user_enabled_emulation: false,
    user_enabled_emulation_dn: null,
    user_enabled_emulation_use_group_config: false,
    user_additional_attribute_mapping: [],
    group_tree_dn: null,
    group_filter: null,
    group_objectclass: 'groupOfNames',
    group_id_attribute: 'cn',
    group_name_attribute: 'ou',
    group_members_are_ids: false,
    group_member_attribute: 'member',
    group_desc_attribute: 'description',
    group_attribute_ignore: [],
    group_additional_attribute_mapping: [],
    tls_cacertfile: null,
    tls_cacertdir: null,
    use_tls: false,
    tls_req_cert: 'demand',
    use_pool: true,
    pool_size: 10,
    pool_retry_max: 3,
    pool_retry_delay: 0.1,
    pool_connection_timeout: -1,
    pool_connection_lifetime: 600,
    use_auth_pool: true,
    auth_pool_size: 100,
    auth_pool_connection_lifetime: 60,
  },
};
/** Options stored but never shown (Keystone's sensitive options). */
const SENSITIVE: Record<string, string[]> = { identity: [], ldap: ['password'] };
/** The options of the group any token may read, of the default domain only (`cloud serve --password-regex`). */
const SECURITY_COMPLIANCE_OPTIONS = ['password_regex', 'password_regex_description'];

/** Keystone's InvalidDomainConfig, a 403. */
const invalid = (reason: string) => forbidden(`Invalid domain specific configuration: ${reason}.`);

const isSensitive = (group: string, option: string) => SENSITIVE[group]?.includes(option) ?? false;

/** Keystone's `_assert_valid_group_and_option`. */
function checkGroupAndOption(group?: string, option?: string): void {
  if (group === undefined) return;
  if (!(group in WHITELISTED) && !(group in SENSITIVE)) {
    throw invalid(`Group ${group} is not supported for domain specific configurations`);
  }
  if (option !== undefined && !(option in (WHITELISTED[group] ?? {})) && !isSensitive(group, option)) {
    throw invalid(`Option ${option} in group ${group} is not supported for domain specific configurations`);
  }
}

/** A configuration body, `{group: {option: value}}`, as its options (Keystone's `_assert_valid_config`). */
function optionsOf(config: Json): DomainConfigOption[] {
  if (Object.keys(config).length === 0) throw invalid('No options specified');
  return Object.entries(config).flatMap(([group, options]) => {
    if (!isObject(options) || Object.keys(options).length === 0) {
      throw invalid(`The value of group ${group} specified in the config should be a dictionary of options`);
    }
    return Object.entries(options).map(([option, value]) => {
      checkGroupAndOption(group, option);
      return { group, option, value, sensitive: isSensitive(group, option) };
    });
  });
}

/** Options as Keystone answers them: `{group: {option: value}}`, or `{option: value}` for one option. */
function configOf(options: { group: string; option: string; value: unknown }[], option?: string) {
  if (option !== undefined) return Object.fromEntries(options.map((o) => [o.option, o.value]));
  const config: Record<string, Record<string, unknown>> = {};
  for (const o of options) (config[o.group] ??= {})[o.option] = o.value;
  return config;
}

const what = (group?: string, option?: string) =>
  option !== undefined ? `option ${option} in group ${group}` : group !== undefined ? `group ${group}` : 'any options';
/** Keystone's DomainConfigNotFound. */
const configNotFound = (domainId: string, group?: string, option?: string) =>
  notFound(`Could not find ${what(group, option)} in domain configuration for domain ${domainId}.`);

const parts = (request: FastifyRequest) => request.params as { id: string; group?: string; option?: string };
const configBody = (body: unknown): Json => {
  const config = isObject(body) ? (body.config ?? {}) : {};
  if (!isObject(config)) throw invalid('The config should be a dictionary of groups');
  return config;
};

/**
 * Keystone's domain-specific configuration (`/v3/domains/{id}/config`, its groups and options,
 * and the defaults under `/v3/domains/config`), for the cloud admin: the `identity` and `ldap`
 * options Keystone allows are kept for each domain (a configuration goes with its domain), and
 * `ldap.password` is kept but never shown. rackseed's only identity driver is its database, so
 * they change nothing, as in a Keystone without domain-specific drivers. Unknown groups and
 * options are a 403, as Keystone's InvalidDomainConfig; the default domain's
 * `security_compliance` group may be read by anyone.
 */
export async function domainConfigRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const admin = { onRequest: auth, preHandler: async (request: FastifyRequest) => requireCloudAdmin(authOf(request)) };
  const db = deps.db;
  const domain = async (id: string) => need(await db.domains.get(id), 'domain', id);
  /** The options shown, of a group or an option: the sensitive ones are not. */
  const shown = async (id: string, group?: string, option?: string) =>
    (await db.domainConfigs.list(id, { group, option })).filter((o) => !o.sensitive);

  const defaults = (group?: string, option?: string) => {
    checkGroupAndOption(group, option);
    const groups = group === undefined ? Object.keys(WHITELISTED) : [group];
    const options = groups.flatMap((g) =>
      Object.entries(WHITELISTED[g] ?? {})
        .filter(([o]) => option === undefined || o === option)
        .map(([o, value]) => ({ group: g, option: o, value })),
    );
    if (option !== undefined && options.length === 0) {
      throw invalid(`Reading the default for option ${option} in group ${group} is not supported`);
    }
    return { config: configOf(options, option) };
  };
  app.get('/v3/domains/config/default', admin, async () => defaults());
  app.get('/v3/domains/config/:group/default', admin, async (request) => defaults(parts(request).group));
  app.get('/v3/domains/config/:group/:option/default', admin, async (request) =>
    defaults(parts(request).group, parts(request).option),
  );

  const show = async (request: FastifyRequest) => {
    const { id, group, option } = parts(request);
    if (group === 'security_compliance') {
      if (id !== 'default') {
        throw invalid(
          'Reading security compliance information for any domain other than the default domain is not allowed or supported',
        );
      }
      if (option !== undefined && !SECURITY_COMPLIANCE_OPTIONS.includes(option)) {
        throw invalid(
          'Reading security compliance values other than password_regex and password_regex_description is not allowed',
        );
      }
      await domain(id);
      const { passwordRegex, passwordRegexDescription } = deps.securityCompliance;
      const options = Object.entries({
        password_regex: passwordRegex,
        password_regex_description: passwordRegexDescription,
      })
        .filter(([o]) => option === undefined || o === option)
        .map(([o, value]) => ({ group, option: o, value }));
      return { config: configOf(options, option) };
    }
    requireCloudAdmin(authOf(request));
    checkGroupAndOption(group, option);
    await domain(id);
    const options = await shown(id, group, option);
    if (options.length === 0) throw configNotFound(id, group, option);
    return { config: configOf(options, option) };
  };
  for (const path of [
    '/v3/domains/:id/config',
    '/v3/domains/:id/config/:group',
    '/v3/domains/:id/config/:group/:option',
  ]) {
    app.get(path, { onRequest: auth }, show);
  }

  app.put('/v3/domains/:id/config', admin, async (request, reply) => {
    const { id } = parts(request);
    await domain(id);
    const options = optionsOf(configBody(request.body));
    const existed = (await db.domainConfigs.list(id, {})).length > 0;
    await db.domainConfigs.replace(id, options);
    return reply.code(existed ? 200 : 201).send({ config: configOf(await shown(id)) });
  });

  /** Keystone's update_config: a group's or an option's update names that one only, and it must be set. */
  const update = async (request: FastifyRequest) => {
    const { id, group, option } = parts(request);
    await domain(id);
    const body = configBody(request.body);
    const config = group !== undefined && option !== undefined ? { [group]: body } : body;
    const options = optionsOf(config);
    checkGroupAndOption(group, option);
    if (group !== undefined) {
      const named = config[group];
      if (
        Object.keys(config).length !== 1 ||
        (option !== undefined && isObject(named) && Object.keys(named).length !== 1)
      ) {
        throw invalid(
          option !== undefined
            ? `Trying to update option ${option} in group ${group}, so that, and only that, option must be specified in the config`
            : `Trying to update group ${group}, so that, and only that, group must be specified in the config`,
        );
      }
      if (!isObject(named)) {
        throw invalid(
          `request to update group ${group}, but config provided contains group ${Object.keys(config)[0]} instead`,
        );
      }
      if (option !== undefined && !(option in named)) {
        throw invalid(
          `Trying to update option ${option} in group ${group}, but config provided contains option ${Object.keys(named)[0]} instead`,
        );
      }
      if ((await db.domainConfigs.list(id, { group, option })).length === 0) throw configNotFound(id, group, option);
    }
    await db.domainConfigs.set(id, options);
    const all = await shown(id);
    if (all.length === 0) throw configNotFound(id);
    return { config: configOf(all) };
  };
  const remove = async (request: FastifyRequest, reply: FastifyReply) => {
    const { id, group, option } = parts(request);
    await domain(id);
    checkGroupAndOption(group, option);
    if (group !== undefined && (await db.domainConfigs.list(id, { group, option })).length === 0) {
      throw configNotFound(id, group, option);
    }
    await db.domainConfigs.delete(id, { group, option });
    return reply.code(204).send();
  };
  for (const path of [
    '/v3/domains/:id/config',
    '/v3/domains/:id/config/:group',
    '/v3/domains/:id/config/:group/:option',
  ]) {
    app.patch(path, admin, update);
    app.delete(path, admin, remove);
  }
}
