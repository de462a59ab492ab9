import type Database from 'better-sqlite3';
import { DbNotFoundError } from './errors.js';
import { bool, json, type Row, statements, str, where } from './rows.js';
import type { CloudSql, DomainConfigOption } from './types.js';

const toOption = (r: Row): DomainConfigOption => ({
  group: str(r.config_group),
  option: str(r.option),
  value: json<unknown>(r.value),
  sensitive: bool(r.sensitive),
});

/**
 * The `domainConfigs` group: each domain's configuration options (Keystone's whitelisted and
 * sensitive config tables in one), one row per option with its value as JSON. A domain's
 * options go with it (a foreign key). Which groups and options are allowed is the API's to say.
 */
export function domainConfigsSql(db: Database.Database): CloudSql['domainConfigs'] {
  const { all, one, run } = statements(db);
  const scope = (domainId: string, filter: { group?: string; option?: string }) =>
    where({
      domain_id: domainId,
      config_group: filter.group,
      option: filter.group === undefined ? undefined : filter.option,
    });
  const put = (domainId: string, options: DomainConfigOption[]): void => {
    if (!one('SELECT id FROM domains WHERE id = ?', domainId)) throw new DbNotFoundError('domain', domainId);
    const upsert = db.prepare(
      `INSERT INTO domain_configs (domain_id, config_group, option, value, sensitive) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (domain_id, config_group, option) DO UPDATE SET value = excluded.value, sensitive = excluded.sensitive`,
    );
    for (const o of options) upsert.run(domainId, o.group, o.option, JSON.stringify(o.value), o.sensitive ? 1 : 0);
  };
  return {
    list: (domainId, filter) => {
      const w = scope(domainId, filter);
      return all(`SELECT * FROM domain_configs${w.sql} ORDER BY rowid`, ...w.params).map(toOption);
    },
    replace: (domainId, options) => {
      run('DELETE FROM domain_configs WHERE domain_id = ?', domainId);
      put(domainId, options);
    },
    set: put,
    delete: (domainId, filter) => {
      const w = scope(domainId, filter);
      run(`DELETE FROM domain_configs${w.sql}`, ...w.params);
    },
  };
}
