import type Database from 'better-sqlite3';
import { DbNotFoundError } from './errors.js';
import { json, type Row, statements, str, strOrNull } from './rows.js';
import type { CloudSql, OAuthConsumer } from './types.js';

const toConsumer = (r: Row): OAuthConsumer => ({
  id: str(r.id),
  description: strOrNull(r.description),
  secret: str(r.secret),
  extra: json<Record<string, unknown>>(r.extra),
});

/** The `oauthConsumers` group: Keystone's OAuth1 consumers (OS-OAUTH1), their secrets kept as Keystone keeps them. */
export function oauthConsumersSql(db: Database.Database): CloudSql['oauthConsumers'] {
  const { all, one, run, insert, mustChange } = statements(db);
  const get = (id: string): OAuthConsumer | null => {
    const row = one('SELECT * FROM oauth_consumers WHERE id = ?', id);
    return row ? toConsumer(row) : null;
  };
  return {
    create: (c) => {
      insert(
        'oauth_consumers',
        { id: c.id, description: c.description, secret: c.secret, extra: c.extra },
        `consumer ${c.id}`,
      );
      return get(c.id) as OAuthConsumer;
    },
    get,
    list: () => all('SELECT * FROM oauth_consumers ORDER BY rowid').map(toConsumer),
    update: (id, patch) => {
      const before = get(id);
      if (!before) throw new DbNotFoundError('consumer', id);
      const next = { ...before, ...patch };
      run(
        'UPDATE oauth_consumers SET description = ?, extra = ? WHERE id = ?',
        next.description,
        JSON.stringify(next.extra),
        id,
      );
      return get(id) as OAuthConsumer;
    },
    delete: (id) => mustChange(run('DELETE FROM oauth_consumers WHERE id = ?', id), 'consumer', id),
  };
}
